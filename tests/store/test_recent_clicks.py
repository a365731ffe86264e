"""The SQLite writer's recent clicks of busy pairs judge exactly as the database's reads.

Two real SQLite stores take the same groups of hits (a pasted link clicked by a crowd,
scanners following every link, honeypot clicks, people clicking now and then), one
keeping busy pairs' clicks in memory and one reading them from the file each time: every
hit's verdict and reasons, and every Clicked event's, come out the same. Another
connection's commits in between (a second worker, a command-line tool) are seen.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.config import SIGNALS
from tracker.events import EventType, Hit, Route, iso
from tracker.netlists import NetMatcher
from tracker.store.recent import BUSY
from tracker.store.scoring import Scoring
from tracker.store.sqlite.store import SQLiteStore
from tracker.tokens import HONEYPOT_LINK, Message
from tracker.verdicts import Judge

START = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
HOT = Message("d1", "pasted", "c", "e")
SCANNED = [Message("d1", f"scanned-{i}", "c", "e") for i in range(3)]
PEOPLE = [Message("d1", f"person-{i}", "c", "e") for i in range(20)]


def click(message: Message, link: int, at: datetime, method: str = "GET") -> Hit:
    return Hit(Route.CLICK, method, "redirected", iso(at), message, "192.0.2.1", MAIL,
               EventType.CLICKED, link, "https://shop.example/")  # fmt: skip


def traffic(seed: int) -> list[list[Hit]]:
    """Groups of hits over about 40 s: mostly the pasted link, scanners' runs through
    every link, a few people, now and then a honeypot click or a click on another link
    of the pasted message, and opens."""
    rng = random.Random(seed)
    groups, at = [], START
    for _ in range(120):
        group = []
        for _ in range(rng.choice([1, 1, 3, 16, 40])):
            at += timedelta(seconds=rng.choice([0.0, 0.001, 0.01, 0.05, 0.2]))
            roll = rng.random()
            if roll < 0.55:
                link = 3 if rng.random() > 0.02 else rng.choice([1, HONEYPOT_LINK])
                group.append(click(HOT, link, at))
            elif roll < 0.8:
                who = rng.choice(SCANNED)
                group.append(click(who, rng.randrange(12), at))
            elif roll < 0.95:
                who = rng.choice(PEOPLE)
                link = rng.choice([0, 1, 2, HONEYPOT_LINK] if rng.random() < 0.1 else [0, 1])
                group.append(click(who, link, at, rng.choice(["GET", "GET", "HEAD"])))
            else:
                group.append(Hit(Route.OPEN, "GET", "ok", iso(at), rng.choice(PEOPLE),
                                 "192.0.2.1", MAIL, EventType.OPENED))  # fmt: skip
        # Now and then a group lags: its hits are older than the last group's.
        if rng.random() < 0.05:
            for hit in group:
                hit.at = iso(datetime.fromisoformat(hit.at) - timedelta(seconds=1.5))
        groups.append(group)
        if rng.random() < 0.1:
            at += timedelta(seconds=rng.choice([3, 12, 31]))
    return groups


def foreign_click(path: Path, message: Message, link: int, at: str) -> None:
    """Another connection commits a click (a second worker would)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO hits (id, at, route, method, outcome, delivery, recipient, campaign,"
            " email, link, url, ip, user_agent, verdict, reasons) SELECT max(id) + 1, ?,"
            " 'click', 'GET', 'redirected', ?, ?, 'c', 'e', ?, 'u', NULL, '', 'human', ''"
            " FROM hits",
            (at, message.delivery, message.recipient, link),
        )
    conn.close()


async def replay(path: Path, recent: bool, groups: list[list[Hit]], signals: tuple[str, ...]
                 ) -> list[tuple[object, ...]]:  # fmt: skip
    scoring = Scoring(Judge(signals, NetMatcher([], 24, 48), 5.0))
    store = SQLiteStore(path, scoring=scoring, recent=recent)
    await store.open()
    try:
        for n, group in enumerate(groups):
            stored = await asyncio.gather(*(store.record(hit) for hit in group))
            assert all(result is None for result in stored)
            if n % 37 == 36:  # another writer's click on the pasted message's other link
                at = datetime.fromisoformat(group[-1].at) + timedelta(seconds=0.5)
                foreign_click(path, HOT, 7, iso(at))
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT h.id, h.recipient, h.link, h.verdict, h.reasons, e.verdict FROM hits h"
        " LEFT JOIN events e ON e.hit_id = h.id AND e.recipient = h.recipient ORDER BY h.id"
    ).fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("signals", [SIGNALS, ("proximity", "honeypot"), ("proximity",)])
def test_kept_clicks_judge_as_the_database_does(
    tmp_path: Path, seed: int, signals: tuple[str, ...]
) -> None:
    groups = traffic(seed)
    kept = asyncio.run(replay(tmp_path / "kept.db", True, groups, signals))
    read = asyncio.run(replay(tmp_path / "read.db", False, traffic(seed), signals))
    assert len(kept) == sum(len(g) for g in groups) + 3
    assert kept == read
    # The traffic is one a verdict depends on: the pasted link's clicks near another link
    # of its message, scanners' runs and honeypot clicks make bots, flips included.
    reasons = {r[4] for r in kept if r[3] == "bot"}
    assert any("proximity" in (r or "") for r in reasons)
    if "honeypot" in signals:
        assert any("honeypot" in (r or "") for r in reasons)
    assert any(r[1] == "pasted" and r[3] == "human" for r in kept)


def test_a_trap_turns_clicks_older_than_the_kept_ones(tmp_path: Path) -> None:
    """A honeypot click turns every click of its message within 30 s, further back than
    the kept clicks of a busy pair reach: those are read from the file and turned, the
    hit is stored and answered, and later verdicts still agree with the database's."""
    person = Message("d1", "trapped", "c", "e")
    at = START
    groups = [[click(person, 0, at)]]
    at += timedelta(seconds=12)
    # Busy from here: a crowd on link 1 (its clicks are kept from 3 s before on).
    groups.append([click(person, 1, at + timedelta(seconds=n / 100)) for n in range(BUSY)])
    for step in (1.0, 1.0, 3.0):
        at += timedelta(seconds=step)
        groups.append([click(person, 1, at)])
    at += timedelta(seconds=2.5)
    groups.append([click(person, HONEYPOT_LINK, at)])
    at += timedelta(seconds=1.0)
    groups.append([click(person, 1, at), click(PEOPLE[0], 0, at)])
    copy = [[click(h.message, h.link or 0, datetime.fromisoformat(h.at)) for h in g]
            for g in groups]  # fmt: skip
    kept = asyncio.run(replay(tmp_path / "kept.db", True, groups, SIGNALS))
    read = asyncio.run(replay(tmp_path / "read.db", False, copy, SIGNALS))
    assert kept == read
    first = kept[0]
    assert (first[1], first[2], first[3]) == ("trapped", 0, "bot")
    assert "honeypot" in first[4] and first[5] == "bot"
