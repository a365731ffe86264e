"""Verdicts in the writer's transaction: each hit's context, read set-wise from SQLite.

Used for new hits (``insert_hits``) and to re-score stored ones (``rescore``). A new hit
can also reveal older ones: the first click of a burst, or the clicks just before a
honeypot click. Those stored clicks are turned to ``bot`` in the same transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from tracker.config import Settings
from tracker.events import EventType, Route, iso
from tracker.rules import dedupe_key
from tracker.store.sqlite_workflow import reset
from tracker.tokens import HONEYPOT_LINK
from tracker.useragents import read_agent
from tracker.verdicts import Context, Judge, Verdict, judge_for

CHUNK = 500


class Probe(NamedTuple):
    """The fields of a hit that its verdict depends on."""

    id: int
    at: str
    route: str
    method: str
    delivery: str
    recipient: str
    link: int | None
    ip: str | None
    user_agent: str


@dataclass(frozen=True)
class Scoring:
    """The judge, the windows of the context signals, and the campaigns kept anonymous."""

    judge: Judge
    proximity_seconds: float = 2.0
    honeypot_seconds: float = 30.0
    anonymous: frozenset[str] = frozenset()

    @classmethod
    def for_settings(cls, settings: Settings) -> Scoring:
        return cls(
            judge_for(settings),
            settings.proximity_seconds,
            settings.honeypot_seconds,
            frozenset(settings.anonymous_campaigns),
        )


@dataclass
class Neighbour:
    id: int
    seconds: float
    link: int | None
    verdict: str | None
    reasons: str


@dataclass
class Scored:
    """Verdicts of the probes, and stored clicks they turn to bot (id -> reason added)."""

    verdicts: list[tuple[Verdict, str]]
    flipped: dict[int, str] = field(default_factory=dict)


def seconds(at: str) -> float:
    """Seconds since the epoch of a stored ISO time."""
    return datetime.fromisoformat(at).timestamp()


def _send_times(conn: sqlite3.Connection, probes: list[Probe]) -> dict[tuple[str, str], list[str]]:
    """Sent and Delivered times of each (delivery, recipient), oldest first: one read."""
    pairs = {(p.delivery, p.recipient) for p in probes}
    recipients = sorted({p.recipient for p in probes})
    found: dict[tuple[str, str], list[str]] = {}
    for start in range(0, len(recipients), CHUNK):
        chunk = recipients[start : start + CHUNK]
        rows = conn.execute(
            "SELECT delivery, recipient, at FROM events INDEXED BY events_sends"
            f" WHERE recipient IN ({','.join('?' * len(chunk))})"
            " AND type IN ('sent', 'delivered') ORDER BY at",
            chunk,
        )
        for delivery, recipient, at in rows:
            if (delivery, recipient) in pairs:
                found.setdefault((delivery, recipient), []).append(at)
    return found


def _stored_clicks(
    conn: sqlite3.Connection, probes: list[Probe], window: float, trap_window: float | None
) -> dict[tuple[str, str], list[Neighbour]]:
    """Stored GET clicks of the probes' (delivery, recipient) pairs near their times.

    Every click within ``window``, and honeypot clicks (their own small index) within
    ``trap_window``: one statement per group, each part bounded by a (recipient, at)
    index to those seconds however long a person's history is.
    """
    if not probes:
        return {}
    first, last = min(p.at for p in probes), max(p.at for p in probes)
    pairs = {(p.delivery, p.recipient) for p in probes}
    recipients = sorted({p.recipient for p in probes})
    columns = "id, delivery, recipient, at, link, verdict, reasons"
    clicks = " AND route = 'click' AND method = 'GET'"
    found: dict[tuple[str, str], list[Neighbour]] = {}
    seen: set[int] = set()
    for start in range(0, len(recipients), CHUNK):
        chunk = recipients[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = (
            f"SELECT {columns} FROM hits INDEXED BY hits_recipient_at"
            f" WHERE recipient IN ({marks}) AND at BETWEEN ? AND ?{clicks}"
        )
        params = [*chunk, _iso_shift(first, -window - 1), _iso_shift(last, window + 1)]
        if trap_window is not None:
            sql += (
                f" UNION ALL SELECT {columns} FROM hits INDEXED BY hits_traps"
                f" WHERE recipient IN ({marks}) AND at BETWEEN ? AND ?{clicks}"
                f" AND link = {HONEYPOT_LINK}"
            )
            params += [*chunk, _iso_shift(first, -trap_window - 1)]
            params.append(_iso_shift(last, trap_window + 1))
        for hit_id, delivery, recipient, at, link, verdict, reasons in conn.execute(sql, params):
            if (delivery, recipient) in pairs and hit_id not in seen:
                seen.add(hit_id)
                found.setdefault((delivery, recipient), []).append(
                    Neighbour(hit_id, seconds(at), link, verdict, reasons or "")
                )
    return found


def _iso_shift(at: str, by: float) -> str:
    moment = datetime.fromisoformat(at)
    return iso(datetime.fromtimestamp(moment.timestamp() + by, moment.tzinfo))


def score(conn: sqlite3.Connection, probes: list[Probe], scoring: Scoring) -> Scored:
    """Verdicts for ``probes`` (in id order); stored neighbours are read, not written."""
    judge = scoring.judge
    on = judge.signals
    sends = _send_times(conn, probes) if "after_send" in on else {}
    clicks = [p for p in probes if p.route == Route.CLICK and p.method == "GET"]
    click_ids = {p.id for p in clicks}
    # Stored neighbours: any click within the proximity window, honeypot clicks within
    # the honeypot window, and, around a honeypot click, every click it turns to bot.
    stored: dict[tuple[str, str], list[Neighbour]] = {}
    if clicks and ("proximity" in on or "honeypot" in on):
        window = scoring.proximity_seconds if "proximity" in on else 0.0
        trap_window = scoring.honeypot_seconds if "honeypot" in on else None
        stored = _stored_clicks(conn, clicks, window, trap_window)
        traps = [p for p in clicks if p.link == HONEYPOT_LINK]
        if traps and trap_window is not None:  # rare: every click around a trap is read
            _merge(stored, _stored_clicks(conn, traps, trap_window, None))
    # The probes' own clicks are neighbours too (when new, they are not stored yet).
    pending: dict[tuple[str, str], list[Neighbour]] = {}
    probe_ids = {p.id for p in probes}
    for p in clicks:
        pending.setdefault((p.delivery, p.recipient), []).append(
            Neighbour(p.id, seconds(p.at), p.link, None, "")
        )
    result = Scored([])
    for p in probes:
        key = (p.delivery, p.recipient)
        at = seconds(p.at)
        since = None
        for sent_at in sends.get(key, ()):
            sent = seconds(sent_at)
            if sent <= at:
                since = at - sent
        proximity = honeypot = False
        if p.id in click_ids:
            others = pending.get(key, []) + [
                n for n in stored.get(key, []) if n.id not in probe_ids
            ]
            for n in others:
                if n.id == p.id:
                    continue
                gap = abs(n.seconds - at)
                if gap <= scoring.proximity_seconds and n.link != p.link and "proximity" in on:
                    proximity = True
                    _flip(result, n, probe_ids, "proximity")
                if p.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds and "honeypot" in on:
                    _flip(result, n, probe_ids, "honeypot")
                if n.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds:
                    honeypot = True
            honeypot = honeypot or p.link == HONEYPOT_LINK
        context = Context(since, proximity, honeypot)
        result.verdicts.append(judge.judge(p.route, p.method, p.ip, p.user_agent, context))
    return result


def _merge(
    into: dict[tuple[str, str], list[Neighbour]], more: dict[tuple[str, str], list[Neighbour]]
) -> None:
    for key, neighbours in more.items():
        have = {n.id for n in into.get(key, [])}
        into.setdefault(key, []).extend(n for n in neighbours if n.id not in have)


def _flip(result: Scored, n: Neighbour, probe_ids: set[int], reason: str) -> None:
    """Turn a stored click to bot (probes get theirs from their own context)."""
    if n.id in probe_ids or n.verdict == Verdict.BOT and reason in n.reasons.split(","):
        return
    reasons = [r for r in n.reasons.split(",") if r]
    already = result.flipped.get(n.id)
    if already is not None:
        reasons = already.split(",")
    if reason not in reasons:
        reasons.append(reason)
    result.flipped[n.id] = ",".join(reasons)


def apply_flips(conn: sqlite3.Connection, flipped: dict[int, str]) -> None:
    """Write the stored clicks a new hit revealed as bot, and their Clicked events."""
    if not flipped:
        return
    conn.executemany(
        "UPDATE hits SET verdict = 'bot', reasons = ? WHERE id = ?",
        [(reasons, hit_id) for hit_id, reasons in flipped.items()],
    )
    conn.executemany(
        "UPDATE events SET verdict = 'bot' WHERE hit_id = ? AND type = 'clicked'",
        [(hit_id,) for hit_id in flipped],
    )


@dataclass
class Rescore:
    """A unit of the writer: re-judge the next ``limit`` hits after ``after_id``."""

    since: str
    after_id: int
    limit: int = 5000
    last_id: int = 0  # out: the last hit judged (0 when none was left)
    judged: int = 0
    changed: int = 0


_RESCORE_SELECT = (
    "SELECT id, at, route, method, delivery, recipient, link, ip, user_agent, verdict,"
    " reasons, campaign, email FROM hits WHERE id > ? AND at >= ? AND route IN ('open', 'click')"
    " ORDER BY id LIMIT ?"
)


def rescore(conn: sqlite3.Connection, unit: Rescore, scoring: Scoring) -> None:
    """Re-judge one chunk of stored hits with today's rules, and follow with their events.

    Each hit is judged with all its neighbours stored, before and after it. Clicked events
    take their hit's new verdict. Opened events are rebuilt, in hit order, for every
    (email, recipient, campaign) the chunk touches, so the one human Opened goes to the
    first human open of the range (a later chunk rebuilds its own opens again).
    """
    if unit.after_id == 0:
        reset(conn)  # the consolidated counts hold the old verdicts: rebuilt by the next run
    found = conn.execute(_RESCORE_SELECT, (unit.after_id, unit.since, unit.limit)).fetchall()
    if not found:
        return
    probes = [Probe(*row[:9]) for row in found]
    scored = score(conn, probes, scoring)  # neighbours outside the chunk are not written
    updates = []
    for row, probe, (verdict, reasons) in zip(found, probes, scored.verdicts, strict=True):
        agent = read_agent(probe.user_agent)
        updates.append((verdict, reasons, agent.client, agent.device, probe.id))
        unit.changed += (row[9], row[10] or "") != (verdict, reasons)
    conn.executemany(
        "UPDATE hits SET verdict = ?, reasons = ?, client = ?, device = ? WHERE id = ?", updates
    )
    conn.executemany(
        "UPDATE events SET verdict = ? WHERE hit_id = ? AND type = 'clicked'",
        [(u[0], u[4]) for u in updates],
    )
    opened = {(row[12], row[5], row[11]) for row in found if row[2] == Route.OPEN}
    for email, recipient, campaign in sorted(opened):
        _rebuild_opened(conn, unit.since, found[-1][0], email, recipient, campaign)
    unit.judged = len(found)
    unit.last_id = found[-1][0]


def _rebuild_opened(
    conn: sqlite3.Connection, since: str, upto: int, email: str, recipient: str, campaign: str
) -> None:
    """The Opened events of one person and email, from the hits since ``since``."""
    conn.execute(
        "DELETE FROM events WHERE type = 'opened' AND recipient = ? AND email = ?"
        " AND campaign = ? AND hit_id IN (SELECT id FROM hits WHERE at >= ? AND recipient = ?)",
        (recipient, email, campaign, since, recipient),
    )
    hits = conn.execute(
        "SELECT id, at, delivery, link, url, verdict FROM hits INDEXED BY hits_recipient_at"
        " WHERE recipient = ? AND email = ? AND campaign = ? AND at >= ? AND id <= ?"
        " AND route = 'open' AND method = 'GET' ORDER BY id",
        (recipient, email, campaign, since, upto),
    ).fetchall()
    conn.executemany(
        "INSERT OR IGNORE INTO events (type, at, delivery, recipient, campaign, email, link,"
        " url, hit_id, dedupe, verdict) VALUES ('opened',?,?,?,?,?,?,?,?,?,?)",
        [
            (at, delivery, recipient, campaign, email, link, url, hit_id,
             dedupe_key(EventType.OPENED, delivery, recipient, campaign, email,
                        machine=verdict != Verdict.HUMAN), verdict)
            for hit_id, at, delivery, link, url, verdict in hits
        ],
    )  # fmt: skip
