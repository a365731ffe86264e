"""The verdicts' reads, bounded by what the rules need, give what reading every stored
click gives: checked on a real SQLite file against the rule as first written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference_verdicts import reference_decide
from tracker.config import SIGNALS
from tracker.events import Route
from tracker.netlists import NetMatcher
from tracker.store.dialect import run_now
from tracker.store.operations.hits import score
from tracker.store.postgres.driver import PostgresTx
from tracker.store.postgres.schema import migrate as pg_migrate
from tracker.store.recent import BUSY, RecentClicks, recent_clicks
from tracker.store.scoring import Neighbour, Probe, Scored, Scoring, iso_shift, seconds
from tracker.store.sqlite.driver import SQLiteTx
from tracker.store.sqlite.schema import migrate
from tracker.store.sqlite.store import connect
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Judge

AT = "2026-11-22T23:00:00.000000Z"
MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
PEOPLE = ("alice", "bob")
LINKS = st.sampled_from([0, 1, 2, 3, HONEYPOT_LINK])
Stored = tuple[int, float, str, int, str | None, str]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Stored], list[Probe]]:
    """Stored clicks of two people (one link clicked over and over, others now and
    then, some already judged), and a group of new clicks and opens."""
    stored: list[Stored] = []
    hot = draw(st.sampled_from([0, 1]))
    spread = draw(st.sampled_from([30, 60, 400]))  # tenths of a second either side
    tenths = st.integers(min_value=-spread, max_value=spread).map(lambda t: t / 10)
    for i in range(draw(st.integers(0, 40))):
        link = hot if draw(st.booleans()) else draw(LINKS)
        verdict = draw(st.sampled_from([None, "human", "bot"]))
        reasons = "" if verdict != "bot" else draw(st.sampled_from(["proximity", "honeypot", "ua"]))
        stored.append((i + 1, draw(tenths), draw(st.sampled_from(PEOPLE)), link, verdict, reasons))
    probes = []
    for i in range(draw(st.integers(1, 10))):
        route = draw(st.sampled_from([Route.CLICK, Route.CLICK, Route.OPEN]))
        link = (hot if draw(st.booleans()) else draw(LINKS)) if route == Route.CLICK else None
        person = draw(st.sampled_from(PEOPLE))
        probes.append(Probe(1000 + i, iso_shift(AT, draw(tenths)), route, "GET", "d1", person,
                            link, "192.0.2.0", MAIL))  # fmt: skip
    return stored, sorted(probes, key=lambda p: p.id)


INSERT = (
    "INSERT INTO hits (id, at, route, method, outcome, delivery, recipient, campaign, email,"
    " link, url, ip, user_agent, verdict, reasons) VALUES"
    " (?, ?, 'click', 'GET', 'redirected', 'd1', ?, 'c', 'e', ?, 'u', NULL, '', ?, ?)"
)


def rows_of(stored: list[Stored]) -> list[tuple[object, ...]]:
    return [(i, iso_shift(AT, by), who, link, verdict, reasons)
            for i, by, who, link, verdict, reasons in stored]  # fmt: skip


def score_on_sqlite(
    path: Path,
    stored: list[Stored],
    probes: list[Probe],
    scoring: Scoring,
    recent: RecentClicks | None = None,
) -> Scored:
    """``score`` in a transaction of the SQLite store's writer over ``stored``; with
    ``recent``, the probes' pairs are busy ones, their clicks kept in it."""
    conn = connect(path, "OFF")
    try:
        migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM hits")
        conn.executemany(INSERT, rows_of(stored))
        if recent is not None:
            recent.begin(conn.execute("PRAGMA data_version").fetchone()[0])
            for p in probes:
                recent.wanted((p.delivery, p.recipient), BUSY)  # busy: kept
        scored, _ = run_now(score(SQLiteTx(conn, recent), probes, scoring))
        conn.execute("ROLLBACK")
        return scored
    finally:
        conn.close()


async def score_on_postgres(
    url: str, stored: list[Stored], probes: list[Probe], scoring: Scoring
) -> Scored:
    """``score`` in a transaction of the PostgreSQL store's writer over ``stored``."""
    conn = await asyncpg.connect(url)
    try:
        await pg_migrate(conn)
        tx = PostgresTx(conn, set())
        transaction = conn.transaction()
        await transaction.start()
        await tx.executemany(INSERT, rows_of(stored))
        scored, _ = await score(tx, probes, scoring)
        await transaction.rollback()
        return scored
    finally:
        await conn.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    histories(),
    st.sampled_from([SIGNALS, ("proximity",), ("honeypot",), ("proximity", "honeypot")]),
)
def test_bounded_reads_judge_as_reading_every_click_would(
    tmp_path: Path,
    database_url: str,
    history: tuple[list[Stored], list[Probe]],
    signals: tuple[str, ...],
) -> None:
    stored, probes = history
    scoring = Scoring(Judge(signals, NetMatcher([], 24, 48), 5.0))
    if database_url:
        bounded = asyncio.run(score_on_postgres(database_url, stored, probes, scoring))
    else:
        bounded = score_on_sqlite(tmp_path / "t.db", stored, probes, scoring)
    every: dict[tuple[str, str], list[Neighbour]] = {}
    for i, by, who, link, verdict, reasons in stored:
        every.setdefault(("d1", who), []).append(
            Neighbour(i, seconds(iso_shift(AT, by)), link, verdict, reasons)
        )
    reference = reference_decide(probes, scoring, {}, every)
    assert bounded.verdicts == reference.verdicts
    assert bounded.flipped == reference.flipped
    if not database_url:  # the SQLite writer's kept clicks answer the same
        recent = recent_clicks(scoring)
        kept = score_on_sqlite(tmp_path / "t.db", stored, probes, scoring, recent)
        clicked = {(p.delivery, p.recipient) for p in probes if p.route == Route.CLICK}
        assert clicked <= set(recent.pairs)
        assert kept.verdicts == reference.verdicts
        assert kept.flipped == reference.flipped
