"""The tracking workflow: a scheduled job (and ``tracker workflow run``) that expires raw
hits past retention, consolidates the activity log into report counts and records the
run, so an operator can tell why reports look the way they do.

A run that fails is kept in memory at once (``/healthz`` shows it) and written to the
runs table as soon as the database takes writes again; the next run catches up from the
watermark, so a failed run loses nothing.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from tracker.config import Settings
from tracker.events import iso
from tracker.store.base import Store, StoreUnavailable
from tracker.store.units import FailedRun, WorkflowRun

log = structlog.get_logger("tracker.workflow")


class WorkflowFailed(RuntimeError):
    """A run could not complete; it is recorded with its error."""


@dataclass
class Workflow:
    """Runs the workflow for one store and keeps what the runs table could not take yet."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    chunk: int = 20_000  # events per transaction
    unrecorded: list[FailedRun] = field(default_factory=list)
    last_failure: dict[str, Any] | None = None

    async def run(self, on_chunk: Callable[[int], None] | None = None) -> WorkflowRun:
        """One run; raises WorkflowFailed (recorded) when the database refuses it.
        ``on_chunk`` hears how many events each committed chunk read."""
        started = iso(self.clock())
        try:
            await self._record_failures()
            expired = 0
            if self.settings.retention_days > 0:
                before = self.clock() - timedelta(days=self.settings.retention_days)
                expired = await self.store.purge_hits(iso(before))
            settle = max(self.settings.proximity_seconds, self.settings.honeypot_seconds) + 60
            settled = iso(self.clock() - timedelta(seconds=settle))
            unit = WorkflowRun(
                started, iso(self.clock()), self.node, settled, expired, limit=self.chunk
            )
            while True:  # a chunk per transaction, the run recorded with the last
                read = unit.rows_read
                unit = await self.store.workflow_run(replace(unit, ended_at=iso(self.clock())))
                if on_chunk is not None:
                    on_chunk(unit.rows_read - read)
                if not unit.more:
                    break
        except StoreUnavailable as exc:
            failed = FailedRun(started, iso(self.clock()), str(exc) or type(exc).__name__,
                               self.node)  # fmt: skip
            self.last_failure = {
                "started_at": failed.started_at,
                "ended_at": failed.ended_at,
                "outcome": "error",
                "error": failed.error,
                "node": self.node,
            }
            self.unrecorded.append(failed)
            log.error("tracking workflow failed", error=failed.error)
            try:
                await self._record_failures()
            except StoreUnavailable:
                pass  # written by a later run
            raise WorkflowFailed(failed.error) from exc
        self.last_failure = None
        log.info(
            "tracking workflow run",
            rows_read=unit.rows_read,
            rows_written=unit.rows_written,
            expired=unit.expired,
            watermark=unit.watermark,
        )
        return unit

    async def _record_failures(self) -> None:
        while self.unrecorded:
            await self.store.workflow_failed(self.unrecorded[0])
            self.unrecorded.pop(0)

    async def health(self) -> dict[str, Any]:
        """The last run and its outcome, the last success, and a warning when it is late."""
        runs = await self.store.workflow_runs(1)
        last = runs[0] if runs else None
        if self.last_failure is not None and (
            last is None or self.last_failure["started_at"] >= last["started_at"]
        ):
            last = self.last_failure
        success = await self.store.last_good_run()
        interval = self.settings.workflow_interval
        warning = None
        if interval > 0:
            late = iso(self.clock() - timedelta(seconds=2 * interval))
            if success is None:
                warning = "no successful run yet"
            elif success < late:
                warning = f"the last successful run is older than {2 * interval:g} s"
        return {"last_run": last, "last_success": success, "warning": warning}


# How often the scheduled loop looks at the backlog between runs.
BACKLOG_CHECK_SECONDS = 15.0


async def workflow_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run at start, every ``workflow_interval`` seconds, and whenever more than
    ``workflow_backlog`` events wait (one worker under --workers)."""
    from tracker.keys import CLOCK, SETTINGS, STORE, WORKFLOW

    settings = app[SETTINGS]
    app[WORKFLOW] = Workflow(app[STORE], settings, app[CLOCK])
    interval = settings.workflow_interval
    if interval <= 0 or os.environ.get("TRACKER_WORKER_INDEX", "0") != "0":
        yield
        return

    workflow = app[WORKFLOW]

    async def due(last: float) -> bool:
        if time.monotonic() - last >= interval:
            return True
        if settings.workflow_backlog <= 0:
            return False
        try:
            return await workflow.store.workflow_backlog() >= settings.workflow_backlog
        except Exception as exc:  # a read that fails now is tried again at the next look
            log.warning("workflow backlog unknown", error=str(exc))
            return False

    async def loop() -> None:
        last = -math.inf
        while True:
            if await due(last):
                last = time.monotonic()
                try:
                    await workflow.run()
                except WorkflowFailed:
                    pass  # recorded; the next run catches up
            await asyncio.sleep(min(interval, BACKLOG_CHECK_SECONDS))

    task = asyncio.create_task(loop(), name="tracking-workflow")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
