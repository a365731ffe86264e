"""The SQLite store's writes: each runs on the writer thread inside the group's transaction."""

from __future__ import annotations

import sqlite3

from tracker.events import EventType, Hit, iso_now
from tracker.ingest import SendEvent
from tracker.store import copies
from tracker.store.base import DeliveryTemplate, WebhookCursor
from tracker.store.rows import (
    HitEventRow,
    HitRow,
    SendEventRow,
    hit_rows,
    probes_of,
    send_rows,
    sqlite_insert,
)
from tracker.store.scoring import Scoring
from tracker.store.sqlite_scoring import apply_flips, score

# Ids per IN (...) list: well under SQLite's limit on bound parameters.
CHUNK = 500

_INSERT_HIT = sqlite_insert("hits", HitRow._fields)
_INSERT_EVENT = sqlite_insert("events", HitEventRow._fields, "INSERT OR IGNORE")


def insert_hits(conn: sqlite3.Connection, hits: list[Hit], scoring: Scoring) -> None:
    """Insert a group of hits, judged, and their events with two ``executemany`` calls.

    Ids are given here, not by SQLite, so each event can name its hit without a round trip
    per row; the transaction holds the write lock, so nobody else takes them meanwhile.
    An Opened made by a machine is kept under its own dedupe key: it does not use up the
    recipient's one human Opened.
    """
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM hits").fetchone()[0]
    ids = list(range(first, first + len(hits)))
    probes = probes_of(ids, hits)
    scored = score(conn, probes, scoring)
    verdicts = dict(zip((p.id for p in probes), scored.verdicts, strict=True))
    rows, events = hit_rows(ids, hits, verdicts, scoring)
    conn.executemany(_INSERT_HIT, rows)
    conn.executemany(_INSERT_EVENT, events)
    apply_flips(conn, scored.flipped)


_INSERT_SEND_EVENT = sqlite_insert("events", SendEventRow._fields, "INSERT OR IGNORE")


def _existing_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT event_id FROM events WHERE event_id IN ({marks})"
        found.update(row[0] for row in conn.execute(sql, chunk))
    return found


def _announced(conn: sqlite3.Connection, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (delivery, message) pairs a stored Sent announced.

    One query per delivery with ``message IN (...)``, so each is an index search; a
    row-value ``(delivery, message) IN (VALUES ...)`` would scan the whole index.
    """
    by_delivery: dict[str, list[str]] = {}
    for delivery, message in pairs:
        by_delivery.setdefault(delivery, []).append(message)
    found: set[tuple[str, str]] = set()
    for delivery, messages in by_delivery.items():
        for start in range(0, len(messages), CHUNK):
            chunk = messages[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT message FROM events WHERE type = 'sent' AND delivery = ?"
                f" AND message IN ({marks})"
            )
            found.update((delivery, row[0]) for row in conn.execute(sql, [delivery, *chunk]))
    return found


def insert_send_events(conn: sqlite3.Connection, events: list[SendEvent]) -> list[str]:
    """Store a batch under the rules with a few set-wise queries; an outcome per event."""
    existing = _existing_ids(conn, list({e.id for e in events}))
    pairs = list({(e.delivery, e.message) for e in events if e.type is not EventType.SENT})
    announced = _announced(conn, pairs)
    outcomes, rows = send_rows(events, existing, announced, lambda e: e.id)
    conn.executemany(_INSERT_SEND_EVENT, rows)
    # INSERT OR IGNORE skipped only rows the rules keep once (a second Delivered); ids were
    # checked above, so only the rows with a dedupe key need looking up again.
    once = {row.event_id for row in rows if row.dedupe is not None}
    kept = _existing_ids(conn, list(once))
    for i, e in enumerate(events):
        if e.id in once and e.id not in kept and outcomes[i].startswith("stored"):
            outcomes[i] = "ignored"
    return outcomes


def insert_delivery(conn: sqlite3.Connection, t: DeliveryTemplate) -> None:
    conn.execute(
        "INSERT INTO deliveries (delivery, campaign, email, html, track_opens, track_clicks,"
        " registered_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (delivery) DO UPDATE SET"
        " campaign = excluded.campaign, email = excluded.email, html = excluded.html,"
        " track_opens = excluded.track_opens, track_clicks = excluded.track_clicks,"
        " registered_at = excluded.registered_at",
        (
            t.delivery,
            t.campaign,
            t.email,
            "",  # the HTML is kept per recipient (tracker.store.copies)
            int(t.track_opens),
            int(t.track_clicks),
            t.registered_at or iso_now(),
        ),
    )
    conn.execute("DELETE FROM links WHERE delivery = ?", (t.delivery,))
    conn.executemany(
        "INSERT INTO links (delivery, link, url) VALUES (?,?,?)",
        [(t.delivery, n, url) for n, url in t.links],
    )
    copies.keep(conn, t)


def save_cursor(conn: sqlite3.Connection, cursor: WebhookCursor) -> None:
    conn.execute(
        "INSERT INTO webhook_cursors (url, cursor, updated_at) VALUES (?,?,?)"
        " ON CONFLICT (url) DO UPDATE SET cursor = excluded.cursor,"
        " updated_at = excluded.updated_at",
        (cursor.url, cursor.cursor, iso_now()),
    )
