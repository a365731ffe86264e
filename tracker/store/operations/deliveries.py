"""A delivery's registration (its numbered links and its copies), webhook cursors and
the dashboard's session statements."""

from __future__ import annotations

from typing import NamedTuple

from tracker.events import iso_now
from tracker.store import copies
from tracker.store.base import DeliveryTemplate, SessionChange, WebhookCursor
from tracker.store.dialect import Tx


class _Link(NamedTuple):
    delivery: str
    link: int
    url: str


async def insert_delivery(tx: Tx, t: DeliveryTemplate) -> None:
    """Keep the delivery's links (the latest registration wins) and its copy."""
    await tx.execute(
        "INSERT INTO deliveries (delivery, campaign, email, html, track_opens, track_clicks,"
        " registered_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery) DO UPDATE SET"
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
    await tx.execute("DELETE FROM links WHERE delivery = ?", (t.delivery,))
    await tx.insert("links", [_Link(t.delivery, n, url) for n, url in t.links])
    await copies.keep(tx, t)
    await _mark_untracked(tx, t)


class _Message(NamedTuple):
    delivery: str
    recipient: str


async def _mark_untracked(tx: Tx, t: DeliveryTemplate) -> None:
    """Remember which of the registration's messages are untracked; a message decorated
    tracked again (consent granted since) is tracked."""
    untracked = set(t.untracked)
    tracked = sorted(set(t.recipients) - untracked)
    for chunk in tx.dialect.chunks(tracked):
        among, params = tx.dialect.any_of("recipient", chunk)
        await tx.execute(
            f"DELETE FROM untracked_messages WHERE delivery = ? AND {among}", [t.delivery, *params]
        )
    await tx.insert(
        "untracked_messages",
        [_Message(t.delivery, r) for r in sorted(untracked)],
        "ON CONFLICT DO NOTHING",
    )


async def save_cursor(tx: Tx, cursor: WebhookCursor) -> None:
    await tx.execute(
        "INSERT INTO webhook_cursors (url, cursor, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (url) DO UPDATE SET cursor = excluded.cursor,"
        " updated_at = excluded.updated_at",
        (cursor.url, cursor.cursor, iso_now()),
    )


async def change_sessions(tx: Tx, change: SessionChange) -> None:
    for sql, params in change.statements:
        await tx.execute(sql, params)
