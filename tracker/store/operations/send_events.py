"""The sending system's events, stored under the rules with a few set-wise queries."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter

from tracker.events import EventType
from tracker.ingest import SendEvent
from tracker.store.dialect import Tx
from tracker.store.rows import SEND_NULLABLE, send_rows

_BY_ID = attrgetter("id")
_BY_RECIPIENT_AND_ID = attrgetter("recipient", "id")


def _key_of(tx: Tx) -> Callable[[SendEvent], Hashable]:
    """What a sender's event id is unique within (``Dialect.event_key``), of an event."""
    return _BY_ID if tx.dialect.event_key == ("event_id",) else _BY_RECIPIENT_AND_ID


async def _stored(tx: Tx, events: Sequence[SendEvent]) -> set[Hashable]:
    """The keys of ``events`` that are stored already."""
    found: set[Hashable] = set()
    if tx.dialect.event_key == ("event_id",):
        ids = {e.id for e in events}
        for chunk in tx.dialect.chunks(list(ids)):
            among, params = tx.dialect.any_of("event_id", chunk)
            rows = await tx.fetch(f"SELECT event_id FROM events WHERE {among}", params)
            found.update(row[0] for row in rows)
        return found
    pairs = {(e.recipient, e.id) for e in events}
    for part in tx.dialect.chunks(list(pairs)):
        people, params = tx.dialect.any_of("recipient", list({p[0] for p in part}))
        ids_in, id_params = tx.dialect.any_of("event_id", list({p[1] for p in part}))
        sql = f"SELECT recipient, event_id FROM events WHERE {people} AND {ids_in}"
        for recipient, event_id in await tx.fetch(sql, params + id_params):
            if (recipient, event_id) in pairs:
                found.add((recipient, event_id))
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
    key = _key_of(tx)
    null = tx.dialect.null
    outcomes, rows = send_rows(list(events), existing, announced, key, null)
    inserted = await tx.insert("events", rows, "ON CONFLICT DO NOTHING", SEND_NULLABLE)
    if inserted == len(rows):
        return outcomes  # every row kept: none met a rule that keeps one
    # Only the rules that keep one (a second Delivered) skip a row whose id is new, so
    # only the rows with a dedupe key need looking up again.
    once_ids = {row.event_id for row in rows if isinstance(row.dedupe, str)}
    once = [e for e in events if e.id in once_ids]
    kept = await _stored(tx, once) if once else set()
    for i, e in enumerate(events):
        if e.id in once_ids and outcomes[i].startswith("stored"):
            if key(e) not in kept:
                outcomes[i] = "ignored"
    return outcomes
