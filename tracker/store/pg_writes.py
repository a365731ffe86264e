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
from tracker.rules import dedupe_key
from tracker.store import copies
from tracker.store.base import DeliveryTemplate, WebhookCursor
from tracker.store.rows import hit_rows, probes_of, send_rows
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
from tracker.useragents import read_agent
from tracker.verdicts import Verdict

Conn = Any  # an asyncpg connection inside a transaction

_INSERT_HITS = """
INSERT INTO hits (id, at, route, method, outcome, delivery, recipient, campaign, email,
                  link, url, ip, user_agent, verdict, reasons, client, device)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::integer[], $11::text[],
    $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
"""
_INSERT_EVENTS = """
INSERT INTO events (type, at, delivery, recipient, campaign, email, link, url, hit_id,
                    dedupe, verdict)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::integer[], $8::text[], $9::bigint[], $10::text[], $11::text[])
ON CONFLICT DO NOTHING
"""


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column (the arrays ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


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
    await conn.execute(_INSERT_HITS, *columns(rows, 17))
    if events:
        await conn.execute(_INSERT_EVENTS, *columns(events, 11))
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
        "SELECT id, at, route, method, delivery, recipient, link, ip, user_agent, verdict,"
        " reasons, campaign, email FROM hits WHERE id > $1 AND at >= $2"
        f" AND route IN ({JUDGED_ROUTES_SQL}) ORDER BY id LIMIT $3",
        unit.after_id,
        unit.since,
        unit.limit,
    )
    if not found:
        return
    probes = [Probe(*tuple(row)[:9]) for row in found]
    scored, _ = await score(conn, probes, scoring)
    updates = []
    for row, probe, (verdict, reasons) in zip(found, probes, scored.verdicts, strict=True):
        agent = read_agent(probe.user_agent)
        updates.append((probe.id, probe.recipient, verdict, reasons, agent.client, agent.device))
        unit.changed += (row["verdict"], row["reasons"] or "") != (verdict, reasons)
    ids, recipients, verdicts, reasons_, clients, devices = columns(updates, 6)
    await conn.execute(
        "UPDATE hits SET verdict = u.verdict, reasons = u.reasons, client = u.client,"
        " device = u.device FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[]) AS u(id, recipient, verdict, reasons, client, device)"
        " WHERE hits.recipient = u.recipient AND hits.id = u.id",
        ids, recipients, verdicts, reasons_, clients, devices,
    )  # fmt: skip
    await conn.execute(
        "UPDATE events SET verdict = u.verdict"
        " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, recipient, verdict)"
        " WHERE events.recipient = u.recipient AND events.hit_id = u.id"
        " AND events.type = 'clicked'",
        ids,
        recipients,
        verdicts,
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
        "SELECT id, at, delivery, link, url, verdict FROM hits WHERE recipient = $1"
        " AND email = $2 AND campaign = $3 AND at >= $4 AND id <= $5"
        " AND route = 'open' AND method = 'GET' ORDER BY id",
        recipient,
        email,
        campaign,
        since,
        upto,
    )
    rows = [
        ("opened", at, delivery, recipient, campaign, email, link, url, hit_id,
         dedupe_key(EventType.OPENED, delivery, recipient, campaign, email,
                    machine=verdict != Verdict.HUMAN), verdict)
        for hit_id, at, delivery, link, url, verdict in hits
    ]  # fmt: skip
    if rows:
        await conn.execute(_INSERT_EVENTS, *columns(rows, 11))


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
        for row in await conn.fetch(
            "INSERT INTO events (type, at, delivery, recipient, campaign, email, message,"
            " event_id, category, reason, address, flag, dedupe)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
            " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
            " $11::text[], $12::text[], $13::text[])"
            " ON CONFLICT DO NOTHING RETURNING recipient, event_id",
            *columns(rows_, 13),
        )
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
