"""The PostgreSQL store's writes, each inside the group's transaction (asyncpg).

The same rules as the SQLite store's (``sqlite_writes``): a group's hits are judged
(``tracker.store.scoring``) and inserted with their events in a statement each, rows as
arrays (``unnest``) so a group is a handful of round trips whatever its size. The dedupe
rules are the database's unique keys (``ON CONFLICT DO NOTHING``), so they hold across
nodes.
"""

from __future__ import annotations

from typing import Any

from tracker.events import EventType, Hit, Route, iso_now
from tracker.eventtypes import JUDGED_ROUTES_SQL, SEND_TIMES_SQL
from tracker.ingest import SendEvent
from tracker.store import copies
from tracker.store.base import DeliveryTemplate, WebhookCursor
from tracker.store.rows import (
    OPEN_HIT,
    RESCORED,
    HitEventRow,
    HitRow,
    Rejudged,
    SendEventRow,
    columns,
    hit_rows,
    opened_rows,
    pg_insert,
    pg_update,
    probes_of,
    rejudged,
    send_rows,
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
from tracker.tokens import HONEYPOT_LINK

Conn = Any  # an asyncpg connection inside a transaction

_INSERT_HITS = pg_insert("hits", HitRow._fields)
_INSERT_EVENTS = pg_insert("events", HitEventRow._fields, "ON CONFLICT DO NOTHING")
_REJUDGE_HITS = pg_update("hits", Rejudged._fields, ("recipient", "id"))
_INSERT_SEND_EVENTS = pg_insert(
    "events", SendEventRow._fields, "ON CONFLICT DO NOTHING RETURNING recipient, event_id"
)


async def insert_hits(conn: Conn, hits: list[Hit], scoring: Scoring) -> None:
    """Insert a group of hits, judged, and their events (see sqlite_writes.insert_hits)."""
    ids = [
        row[0]
        for row in await conn.fetch(
            "SELECT nextval('hits_id_seq') FROM generate_series(1, $1)", len(hits)
        )
    ]
    probes = probes_of(ids, hits)
    scored, stored = await score(conn, probes, scoring)
    verdicts = dict(zip((p.id for p in probes), scored.verdicts, strict=True))
    rows, events = hit_rows(ids, hits, verdicts, scoring)
    await conn.execute(_INSERT_HITS, *columns(rows, len(HitRow._fields)))
    if events:
        await conn.execute(_INSERT_EVENTS, *columns(events, len(HitEventRow._fields)))
    await apply_flips(conn, scored.flipped, stored)


# Verdicts ---------------------------------------------------------------------------


async def score(
    conn: Conn, probes: list[Probe], scoring: Scoring
) -> tuple[Scored, dict[Pair, list[Neighbour]]]:
    """Verdicts for ``probes``, and the stored clicks read for them."""
    need = Windows.of(probes, scoring)
    sends = await _send_times(conn, probes) if need.sends and probes else {}
    stored: dict[Pair, list[Neighbour]] = {}
    if need.clicks:
        stored = await _stored_clicks(conn, need.clicks, need.window, need.trap_window)
        if need.traps and need.trap_window is not None:
            merge(stored, await _stored_clicks(conn, need.traps, need.trap_window, None))
    return decide(probes, scoring, sends, stored), stored


async def _send_times(conn: Conn, probes: list[Probe]) -> dict[Pair, list[str]]:
    pairs = {(p.delivery, p.recipient) for p in probes}
    rows = await conn.fetch(
        "SELECT delivery, recipient, at FROM events WHERE recipient = ANY($1::text[])"
        f" AND type IN ({SEND_TIMES_SQL}) ORDER BY at",
        sorted({p.recipient for p in probes}),
    )
    found: dict[Pair, list[str]] = {}
    for delivery, recipient, at in rows:
        if (delivery, recipient) in pairs:
            found.setdefault((delivery, recipient), []).append(at)
    return found


async def _stored_clicks(
    conn: Conn, probes: list[Probe], window: float, trap_window: float | None
) -> dict[Pair, list[Neighbour]]:
    """Stored GET clicks of the probes' pairs near their times (see sqlite_scoring)."""
    pairs = {(p.delivery, p.recipient) for p in probes}
    columns_ = "id, delivery, recipient, at, link, verdict, reasons"
    clicks = "route = 'click' AND method = 'GET'"
    sql = (
        f"SELECT {columns_} FROM hits WHERE recipient = ANY($1::text[])"
        f" AND at BETWEEN $2 AND $3 AND {clicks}"
    )
    args: list[Any] = [sorted({p.recipient for p in probes}), *span(probes, window)]
    if trap_window is not None:
        sql += (
            f" UNION ALL SELECT {columns_} FROM hits WHERE recipient = ANY($1::text[])"
            f" AND at BETWEEN $4 AND $5 AND {clicks} AND link = {HONEYPOT_LINK}"
        )
        args += span(probes, trap_window)
    found: dict[Pair, list[Neighbour]] = {}
    seen: set[int] = set()
    for hit_id, delivery, recipient, at, link, verdict, reasons in await conn.fetch(sql, *args):
        if (delivery, recipient) in pairs and hit_id not in seen:
            seen.add(hit_id)
            found.setdefault((delivery, recipient), []).append(
                Neighbour(hit_id, seconds(at), link, verdict, reasons or "")
            )
    return found


async def apply_flips(
    conn: Conn, flipped: dict[int, str], stored: dict[Pair, list[Neighbour]]
) -> None:
    """Write the stored clicks a new hit revealed as bot, and their Clicked events."""
    if not flipped:
        return
    whose = {n.id: recipient for (_, recipient), ns in stored.items() for n in ns}
    ids = list(flipped)
    recipients = [whose[i] for i in ids]
    await conn.execute(
        "UPDATE hits SET verdict = 'bot', reasons = u.reasons"
        " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, recipient, reasons)"
        " WHERE hits.recipient = u.recipient AND hits.id = u.id",
        ids,
        recipients,
        [flipped[i] for i in ids],
    )
    await conn.execute(
        "UPDATE events SET verdict = 'bot'"
        " FROM unnest($1::bigint[], $2::text[]) AS u(id, recipient)"
        " WHERE events.recipient = u.recipient AND events.hit_id = u.id"
        " AND events.type = 'clicked'",
        ids,
        recipients,
    )


async def rescore(conn: Conn, unit: Rescore, scoring: Scoring) -> None:
    """Re-judge one chunk of stored hits (see sqlite_scoring.rescore)."""
    from tracker.store.pg_admin import reset

    if unit.after_id == 0:
        await reset(conn)
    found = await conn.fetch(
        f"SELECT {', '.join(RESCORED)} FROM hits WHERE id > $1 AND at >= $2"
        f" AND route IN ({JUDGED_ROUTES_SQL}) ORDER BY id LIMIT $3",
        unit.after_id,
        unit.since,
        unit.limit,
    )
    if not found:
        return
    probes = [Probe(*(row[field] for field in Probe._fields)) for row in found]
    scored, _ = await score(conn, probes, scoring)
    updates = []
    for row, probe, (verdict, reasons) in zip(found, probes, scored.verdicts, strict=True):
        updates.append(rejudged(probe, verdict, reasons))
        unit.changed += (row["verdict"], row["reasons"] or "") != (verdict, reasons)
    arrays = columns(updates, len(Rejudged._fields))
    await conn.execute(_REJUDGE_HITS, *arrays)
    by_name = dict(zip(Rejudged._fields, arrays, strict=True))
    await conn.execute(
        "UPDATE events SET verdict = u.verdict"
        " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, recipient, verdict)"
        " WHERE events.recipient = u.recipient AND events.hit_id = u.id"
        " AND events.type = 'clicked'",
        by_name["id"],
        by_name["recipient"],
        by_name["verdict"],
    )
    opened = {(row["email"], row["recipient"], row["campaign"]) for row in found
              if row["route"] == Route.OPEN}  # fmt: skip
    for email, recipient, campaign in sorted(opened):
        await _rebuild_opened(conn, unit.since, found[-1]["id"], email, recipient, campaign)
    unit.judged = len(found)
    unit.last_id = found[-1]["id"]


async def _rebuild_opened(
    conn: Conn, since: str, upto: int, email: str, recipient: str, campaign: str
) -> None:
    """The Opened events of one person and email, from the hits since ``since``."""
    await conn.execute(
        "DELETE FROM events WHERE type = 'opened' AND recipient = $1 AND email = $2"
        " AND campaign = $3 AND hit_id IN (SELECT id FROM hits WHERE at >= $4"
        " AND recipient = $1)",
        recipient,
        email,
        campaign,
        since,
    )
    hits = await conn.fetch(
        f"SELECT {', '.join(OPEN_HIT)} FROM hits WHERE recipient = $1"
        " AND email = $2 AND campaign = $3 AND at >= $4 AND id <= $5"
        " AND route = 'open' AND method = 'GET' ORDER BY id",
        recipient,
        email,
        campaign,
        since,
        upto,
    )
    rows = opened_rows([tuple(hit) for hit in hits], recipient, campaign, email)
    if rows:
        await conn.execute(_INSERT_EVENTS, *columns(rows, len(HitEventRow._fields)))


# Delivery events, deliveries, webhook cursors -------------------------------------------


async def insert_send_events(conn: Conn, events: list[SendEvent]) -> list[str]:
    """Store a batch under the rules; an outcome per event (see sqlite_writes)."""
    pairs = {(e.recipient, e.id) for e in events}
    recipients, ids = columns(sorted(pairs), 2)
    existing = {
        (row[0], row[1])
        for row in await conn.fetch(
            "SELECT e.recipient, e.event_id FROM events AS e"
            " JOIN unnest($1::text[], $2::text[]) AS u(recipient, id)"
            " ON e.recipient = u.recipient AND e.event_id = u.id",
            recipients,
            ids,
        )
    }
    announced: set[tuple[str, str]] = set()
    by_delivery: dict[str, set[str]] = {}
    for e in events:
        if e.type is not EventType.SENT:
            by_delivery.setdefault(e.delivery, set()).add(e.message)
    for delivery, messages in by_delivery.items():
        rows = await conn.fetch(
            "SELECT message FROM events WHERE type = 'sent' AND delivery = $1"
            " AND message = ANY($2::text[])",
            delivery,
            sorted(messages),
        )
        announced.update((delivery, row[0]) for row in rows)
    outcomes, rows_ = send_rows(events, existing, announced, lambda e: (e.recipient, e.id))
    if not rows_:
        return outcomes
    kept = {
        (row[0], row[1])
        for row in await conn.fetch(_INSERT_SEND_EVENTS, *columns(rows_, len(SendEventRow._fields)))
    }
    for i, e in enumerate(events):
        if outcomes[i].startswith("stored") and (e.recipient, e.id) not in kept:
            outcomes[i] = "ignored"  # the rules keep one (a second Delivered)
    return outcomes


async def insert_delivery(conn: Conn, t: DeliveryTemplate) -> None:
    await conn.execute(
        "INSERT INTO deliveries (delivery, campaign, email, html, track_opens, track_clicks,"
        " registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery) DO UPDATE"
        " SET campaign = excluded.campaign, email = excluded.email, html = excluded.html,"
        " track_opens = excluded.track_opens, track_clicks = excluded.track_clicks,"
        " registered_at = excluded.registered_at",
        t.delivery,
        t.campaign,
        t.email,
        "",  # the HTML is kept per recipient (tracker.store.copies)
        int(t.track_opens),
        int(t.track_clicks),
        t.registered_at or iso_now(),
    )
    await conn.execute("DELETE FROM links WHERE delivery = $1", t.delivery)
    if t.links:
        await conn.executemany(
            "INSERT INTO links (delivery, link, url) VALUES ($1, $2, $3)",
            [(t.delivery, n, url) for n, url in t.links],
        )
    await copies.pg_keep(conn, t)


async def save_cursor(conn: Conn, cursor: WebhookCursor) -> None:
    await conn.execute(
        "INSERT INTO webhook_cursors (url, cursor, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (url) DO UPDATE SET cursor = excluded.cursor,"
        " updated_at = excluded.updated_at",
        cursor.url,
        cursor.cursor,
        iso_now(),
    )
