"""The sending system's events, stored under the rules with a few set-wise queries."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from tracker.events import EventType
from tracker.ingest import SendEvent
from tracker.store.dialect import Tx
from tracker.store.rows import send_rows


def _key(tx: Tx, recipient: str, event_id: str) -> Hashable:
    """What a sender's event id is unique within (``Dialect.event_key``)."""
    return event_id if tx.dialect.event_key == ("event_id",) else (recipient, event_id)


async def _stored(tx: Tx, events: Sequence[SendEvent]) -> set[Hashable]:
    """The keys of ``events`` that are stored already."""
    wanted = {_key(tx, e.recipient, e.id) for e in events}
    found: set[Hashable] = set()
    for chunk in tx.dialect.chunks(sorted({(e.recipient, e.id) for e in events})):
        conditions, params = [], []
        for column in tx.dialect.event_key:
            index = 1 if column == "event_id" else 0  # of (recipient, event_id)
            condition, values = tx.dialect.any_of(column, sorted({p[index] for p in chunk}))
            conditions.append(condition)
            params += values
        sql = f"SELECT recipient, event_id FROM events WHERE {' AND '.join(conditions)}"
        for recipient, event_id in await tx.fetch(sql, params):
            key = _key(tx, recipient, event_id)
            if key in wanted:
                found.add(key)
    return found


async def _announced(tx: Tx, events: Sequence[SendEvent]) -> set[tuple[str, str]]:
    """The (delivery, message) pairs of ``events`` that a stored Sent announced.

    One query per delivery with its messages as a list, so each is an index search; a
    row-value ``(delivery, message) IN (VALUES ...)`` would scan the whole index.
    """
    by_delivery: dict[str, set[str]] = {}
    for e in events:
        if e.type is not EventType.SENT:
            by_delivery.setdefault(e.delivery, set()).add(e.message)
    found: set[tuple[str, str]] = set()
    for delivery, messages in by_delivery.items():
        for chunk in tx.dialect.chunks(sorted(messages)):
            among, params = tx.dialect.any_of("message", chunk)
            rows = await tx.fetch(
                f"SELECT message FROM events WHERE type = 'sent' AND delivery = ? AND {among}",
                [delivery, *params],
            )
            found.update((delivery, row[0]) for row in rows)
    return found


async def insert_send_events(tx: Tx, events: Sequence[SendEvent]) -> list[str]:
    """Store a batch under the rules; an outcome per event (see ``base.EventBatch``)."""
    existing = await _stored(tx, events)
    announced = await _announced(tx, events)
    outcomes, rows = send_rows(
        list(events), existing, announced, lambda e: _key(tx, e.recipient, e.id)
    )
    await tx.insert("events", rows, "ON CONFLICT DO NOTHING")
    # Only the rules that keep one (a second Delivered) skip a row whose id is new, so
    # only the rows with a dedupe key need looking up again.
    once_ids = {row.event_id for row in rows if row.dedupe is not None}
    once = [e for e in events if e.id in once_ids]
    kept = await _stored(tx, once) if once else set()
    for i, e in enumerate(events):
        if e.id in once_ids and outcomes[i].startswith("stored"):
            if _key(tx, e.recipient, e.id) not in kept:
                outcomes[i] = "ignored"
    return outcomes
