"""Every write of the store, written once for both databases (see ``tracker.store.dialect``).

``apply`` writes one group of the writer's units in the open transaction: the group's
hits together (one judged insert), then each other unit in order, by the operation
``OPERATIONS`` names for its type. Each unit's result is returned in its place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tracker.events import Hit
from tracker.store.base import DeliveryTemplate, EventBatch, SessionChange, WebhookCursor
from tracker.store.dialect import Tx
from tracker.store.operations import consent, consolidate, privacy
from tracker.store.operations.deliveries import change_sessions, insert_delivery, save_cursor
from tracker.store.operations.hits import insert_hits
from tracker.store.operations.rescore import rescore
from tracker.store.operations.send_events import insert_send_events
from tracker.store.scoring import Scoring
from tracker.store.units import ConsentChanges, FailedRun, Forget, Purge, Rescore, WorkflowRun

Operation = Callable[[Tx, Any, Scoring], Awaitable[Any]]

OPERATIONS: dict[type[Any], Operation] = {
    DeliveryTemplate: lambda tx, unit, _: insert_delivery(tx, unit),
    EventBatch: lambda tx, unit, _: insert_send_events(tx, unit.events),
    WebhookCursor: lambda tx, unit, _: save_cursor(tx, unit),
    SessionChange: lambda tx, unit, _: change_sessions(tx, unit),
    Rescore: rescore,
    Forget: lambda tx, unit, _: privacy.forget(tx, unit),
    Purge: lambda tx, unit, _: privacy.purge(tx, unit),
    WorkflowRun: lambda tx, unit, _: consolidate.run(tx, unit),
    FailedRun: lambda tx, unit, _: consolidate.record_failure(tx, unit),
    ConsentChanges: lambda tx, unit, _: consent.record(tx, unit),
}

# The units that leave stored hits and consent as they are (the others clear the writer's
# recent clicks and people's consent states, tracker.store.recent).
KEEPS_HITS = (DeliveryTemplate, EventBatch, WebhookCursor, SessionChange, WorkflowRun, FailedRun)


def changes_kept(unit: object) -> bool:
    """Whether ``unit`` changes or deletes stored hits (a hit only adds one) or people's
    consent states (consent changes; forget)."""
    return not isinstance(unit, (Hit, *KEEPS_HITS))


async def apply(tx: Tx, units: Sequence[object], scoring: Scoring) -> list[Any]:
    """Write one group in the open transaction; a result per unit, in order."""
    hits = [unit for unit in units if isinstance(unit, Hit)]
    if hits:
        await insert_hits(tx, hits, scoring)
    return [
        None if isinstance(unit, Hit) else await OPERATIONS[type(unit)](tx, unit, scoring)
        for unit in units
    ]
