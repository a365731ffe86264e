"""Raw-hit retention: hits older than ``retention_days`` are deleted, once an hour.

The raw log holds addresses (anonymised) and user agents; the activity log's events,
which hold neither, stay for the reports.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from aiohttp import web

from tracker.events import iso
from tracker.keys import CLOCK, SETTINGS, STORE
from tracker.store.base import StoreUnavailable

log = structlog.get_logger("tracker.retention")

INTERVAL = 3600.0


async def purge_once(app: web.Application) -> int:
    """Delete the hits past retention now; how many."""
    days = app[SETTINGS].retention_days
    if days <= 0:
        return 0
    before = iso(app[CLOCK]() - timedelta(days=days))
    deleted = await app[STORE].purge_hits(before)
    if deleted:
        log.info("expired hits deleted", hits=deleted, before=before)
    return deleted


async def _loop(app: web.Application) -> None:
    while True:
        try:
            await purge_once(app)
        except StoreUnavailable as exc:
            log.error("expired hits not deleted", error=str(exc))
        await asyncio.sleep(INTERVAL)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Purge at start and every hour while the app runs (one worker under --workers)."""
    if app[SETTINGS].retention_days <= 0 or os.environ.get("TRACKER_WORKER_INDEX", "0") != "0":
        yield
        return
    task = asyncio.create_task(_loop(app), name="retention")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
