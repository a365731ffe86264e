"""Verdicts in the SQLite writer's transaction: each hit's context, read set-wise.

Used for new hits (``insert_hits``) and to re-score stored ones (``rescore``); the
decision itself is ``tracker.store.scoring``'s, shared with the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3

from tracker.events import Route
from tracker.eventtypes import JUDGED_ROUTES_SQL, SEND_TIMES_SQL
from tracker.store.rows import (
    OPEN_HIT,
    RESCORED,
    HitEventRow,
    Rejudged,
    opened_rows,
    rejudged,
    sqlite_insert,
    sqlite_update,
)
from tracker.store.scoring import (
    Neighbour,
    Pair,
    Probe,
    Rescore,
    Scored,
    Scoring,
    Windows,
    decide,
    merge,
    seconds,
    span,
)
from tracker.store.sqlite_workflow import reset
from tracker.tokens import HONEYPOT_LINK

CHUNK = 500


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
            f" AND type IN ({SEND_TIMES_SQL}) ORDER BY at",
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
        params = [*chunk, *span(probes, window)]
        if trap_window is not None:
            sql += (
                f" UNION ALL SELECT {columns} FROM hits INDEXED BY hits_traps"
                f" WHERE recipient IN ({marks}) AND at BETWEEN ? AND ?{clicks}"
                f" AND link = {HONEYPOT_LINK}"
            )
            params += [*chunk, *span(probes, trap_window)]
        for hit_id, delivery, recipient, at, link, verdict, reasons in conn.execute(sql, params):
            if (delivery, recipient) in pairs and hit_id not in seen:
                seen.add(hit_id)
                found.setdefault((delivery, recipient), []).append(
                    Neighbour(hit_id, seconds(at), link, verdict, reasons or "")
                )
    return found


def score(conn: sqlite3.Connection, probes: list[Probe], scoring: Scoring) -> Scored:
    """Verdicts for ``probes`` (in id order); stored neighbours are read, not written."""
    need = Windows.of(probes, scoring)
    sends = _send_times(conn, probes) if need.sends else {}
    stored: dict[Pair, list[Neighbour]] = {}
    if need.clicks:
        stored = _stored_clicks(conn, need.clicks, need.window, need.trap_window)
        if need.traps and need.trap_window is not None:  # rare: every click around a trap
            merge(stored, _stored_clicks(conn, need.traps, need.trap_window, None))
    return decide(probes, scoring, sends, stored)


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


_RESCORE_SELECT = (
    f"SELECT {', '.join(RESCORED)} FROM hits WHERE id > ? AND at >= ?"
    f" AND route IN ({JUDGED_ROUTES_SQL}) ORDER BY id LIMIT ?"
)
_INSERT_EVENT = sqlite_insert("events", HitEventRow._fields, "INSERT OR IGNORE")
_REJUDGE_HITS = sqlite_update("hits", Rejudged._fields, ("recipient", "id"))


def rescore(conn: sqlite3.Connection, unit: Rescore, scoring: Scoring) -> None:
    """Re-judge one chunk of stored hits with today's rules, and follow with their events.

    Each hit is judged with all its neighbours stored, before and after it. Clicked events
    take their hit's new verdict. Opened events are rebuilt, in hit order, for every
    (email, recipient, campaign) the chunk touches, so the one human Opened goes to the
    first human open of the range (a later chunk rebuilds its own opens again).
    """
    if unit.after_id == 0:
        reset(conn)  # the consolidated counts hold the old verdicts: rebuilt by the next run
    found = [
        dict(zip(RESCORED, row, strict=True))
        for row in conn.execute(_RESCORE_SELECT, (unit.after_id, unit.since, unit.limit))
    ]
    if not found:
        return
    probes = [Probe(*(row[field] for field in Probe._fields)) for row in found]
    scored = score(conn, probes, scoring)  # neighbours outside the chunk are not written
    updates = []
    for row, probe, (verdict, reasons) in zip(found, probes, scored.verdicts, strict=True):
        updates.append(rejudged(probe, verdict, reasons))
        unit.changed += (row["verdict"], row["reasons"] or "") != (verdict, reasons)
    conn.executemany(_REJUDGE_HITS, [u._asdict() for u in updates])
    conn.executemany(
        "UPDATE events SET verdict = ? WHERE hit_id = ? AND type = 'clicked'",
        [(u.verdict, u.id) for u in updates],
    )
    opened = {(row["email"], row["recipient"], row["campaign"]) for row in found
              if row["route"] == Route.OPEN}  # fmt: skip
    for email, recipient, campaign in sorted(opened):
        _rebuild_opened(conn, unit.since, found[-1]["id"], email, recipient, campaign)
    unit.judged = len(found)
    unit.last_id = found[-1]["id"]


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
        f"SELECT {', '.join(OPEN_HIT)} FROM hits INDEXED BY hits_recipient_at"
        " WHERE recipient = ? AND email = ? AND campaign = ? AND at >= ? AND id <= ?"
        " AND route = 'open' AND method = 'GET' ORDER BY id",
        (recipient, email, campaign, since, upto),
    ).fetchall()
    conn.executemany(_INSERT_EVENT, opened_rows(hits, recipient, campaign, email))
