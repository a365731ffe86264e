"""The write entry points both stores share: each queues a unit of work on the store's
group writer (``_write``) and returns once it is committed, with the unit's result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from tracker import metrics
from tracker.events import Hit
from tracker.ingest import SendEvent
from tracker.store.base import (
    DeliveryTemplate,
    EventBatch,
    SessionChange,
    StoreUnavailable,
    WebhookCursor,
)
from tracker.store.rows import ConsentRow
from tracker.store.units import (
    ConsentChanges,
    FailedRun,
    Forget,
    Forgotten,
    Purge,
    Rescore,
    Rescored,
    WorkflowRun,
    person_hash,
)

log = structlog.get_logger("tracker.store")

# A failed commit is tried this many times (a moment apart) before its units fail.
COMMIT_ATTEMPTS = 3

# What a store's writer takes.
Unit = (
    Hit
    | DeliveryTemplate
    | EventBatch
    | WebhookCursor
    | Rescore
    | Forget
    | Purge
    | WorkflowRun
    | FailedRun
    | SessionChange
    | ConsentChanges
)


async def with_retries(
    attempt: Callable[[], Awaitable[list[Any]]], retried: tuple[type[Exception], ...]
) -> list[Any]:
    """Run one commit ``attempt``; when it fails with ``retried``, again a moment later,
    up to COMMIT_ATTEMPTS in all. Every failed attempt is logged and counted in
    ``tracker_store_errors_total``; the last one is raised."""
    for number in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return await attempt()
        except retried as exc:
            metrics.STORE_ERRORS.labels(metrics.error_kind(exc)).inc()
            log.warning("commit attempt failed", error=str(exc), attempt=number)
            if number == COMMIT_ATTEMPTS:
                raise
            await asyncio.sleep(0.05 * number)
    raise AssertionError("unreachable")


class Writes:
    """Writes over ``_write``; mixed into each store."""

    _forget_key: str

    async def _write(self, unit: Unit) -> Any:
        """Queue ``unit`` and return its result once committed; StoreUnavailable if it
        was not."""
        raise NotImplementedError

    async def _after_forget(self) -> None:
        """Scrub what the store keeps beside its tables once a person is forgotten."""

    async def record(self, hit: Hit) -> None:
        await self._write(hit)

    async def rescore(
        self, since: str, on_chunk: Callable[[int], None] | None = None
    ) -> tuple[int, int]:
        """Re-judge every open and click hit since ``since``: (hits judged, verdicts changed).

        A chunk per transaction, so a server writing beside it waits a moment at most;
        ``on_chunk`` hears how many each committed chunk judged.
        """
        judged = changed = 0
        after = 0
        while True:
            done: Rescored = await self._write(Rescore(since, after))
            if not done.last_id:
                return judged, changed
            judged += done.judged
            changed += done.changed
            after = done.last_id
            if on_chunk is not None:
                on_chunk(done.judged)

    async def forget(self, recipient: str) -> tuple[int, int]:
        """Erase a person's hits and events, keeping their suppressions under a keyed hash.

        Returns (hits, events) deleted.
        """
        if not self._forget_key:
            raise StoreUnavailable("forget_key is not set")
        gone: Forgotten = await self._write(
            Forget(recipient, person_hash(self._forget_key, recipient))
        )
        await self._after_forget()
        return gone.hits, gone.events

    async def purge_hits(self, before: str) -> int:
        """Delete the raw hits older than ``before``, a chunk per transaction."""
        total = 0
        while True:
            deleted: int = await self._write(Purge(before))
            total += deleted
            if not deleted:
                return total

    async def workflow_run(self, unit: WorkflowRun) -> WorkflowRun:
        """Consolidate the next chunk of the activity log after the watermark: the run as
        it stands after it (``more``: write it again)."""
        done: WorkflowRun = await self._write(unit)
        return done

    async def workflow_failed(self, unit: FailedRun) -> None:
        await self._write(unit)

    async def register_delivery(self, template: DeliveryTemplate) -> None:
        await self._write(template)

    async def record_events(self, events: list[SendEvent]) -> list[str]:
        outcomes: list[str] = await self._write(EventBatch(events))
        return outcomes

    async def save_webhook_cursor(self, cursor: WebhookCursor) -> None:
        await self._write(cursor)

    async def set_consent(
        self, changes: list[ConsentRow], recorded_at: str, erase: bool = False
    ) -> int:
        """Keep people's consent changes (the latest ``at`` of each becomes current); with
        ``erase``, delete their stored hits too. Returns the hits deleted."""
        erased: int = await self._write(ConsentChanges(tuple(changes), recorded_at, erase))
        return erased
