"""Webhooks out: every new event, in commit order, as signed JSON batches.

Each configured endpoint gets ``POST {"events": [...]}`` (the items of
``GET /api/v1/events``, oldest first) with two headers:

- ``X-Tracker-Timestamp``: seconds since the epoch when the request was signed;
- ``X-Tracker-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the webhook
  secret, of ``{timestamp}.{raw body}``.

A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses
timestamps older than a few minutes. A batch is sent until the endpoint answers 2xx
(backing off up to a minute between tries); only then is the cursor saved, so a restart
resumes after the last acknowledged batch and nothing is lost. Redirects are not followed
(a 3xx would re-post the signed batch elsewhere): they are failures, retried like a 5xx.
Log lines name the endpoint without its userinfo or query, which may hold credentials.
Each event carries its ``id`` and ``cursor``: a receiver that must never see one twice
keeps the last cursor.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import structlog
from aiohttp import web
from yarl import URL

from tracker.keys import SETTINGS, STORE
from tracker.store.base import Store, WebhookCursor

log = structlog.get_logger("tracker.webhooks")

MAX_BACKOFF = 60.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


def loggable(url: str) -> str:
    """``url`` without userinfo, query or fragment: safe to put in a log line."""
    try:
        return str(URL(url).with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "(unparsable URL)"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Tracker-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    """Delivers the activity log to one endpoint, batch by batch, at least once."""

    def __init__(
        self,
        url: str,
        secret: str,
        store: Store,
        session: aiohttp.ClientSession,
        batch: int = 100,
        interval: float = 1.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.shown = loggable(url)
        self._secret = secret
        self._store = store
        self._session = session
        self._batch = batch
        self._interval = interval
        self._now = now
        self.stopping = asyncio.Event()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _post(self, body: bytes) -> bool:
        timestamp = str(int(self._now()))
        headers = {
            "Content-Type": "application/json",
            "X-Tracker-Timestamp": timestamp,
            "X-Tracker-Signature": sign(self._secret, timestamp, body),
        }
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return True
                log.warning("webhook refused", url=self.shown, status=resp.status)
                return False
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook failed", url=self.shown, error=type(exc).__name__)
            return False

    async def run(self) -> None:
        """Send until stopped: new events as they are committed, failed batches again.

        Stopping waits for the batch in flight, so an acknowledged batch is never sent again.
        """
        cursor = await self._store.webhook_cursor(self.url)
        backoff = 0.5
        while not self.stopping.is_set():
            items = await self._store.events_after(cursor, self._batch, None)
            if not items:
                await self._pause(self._interval)
                continue
            body = json.dumps({"events": items}).encode()
            if not await self._post(body):
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 0.5
            cursor = int(items[-1]["cursor"])
            await self._store.save_webhook_cursor(WebhookCursor(self.url, cursor))


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run a sender per configured endpoint while the app runs (after the store opens)."""
    settings = app[SETTINGS]
    # Under --workers, one worker sends: the others would send every event again.
    if not settings.webhook_urls or os.environ.get("TRACKER_WORKER_INDEX", "0") != "0":
        yield
        return
    session = aiohttp.ClientSession(timeout=TIMEOUT)
    senders = [
        WebhookSender(
            url,
            settings.webhook_secret,
            app[STORE],
            session,
            settings.webhook_batch,
            settings.webhook_interval,
        )  # fmt: skip
        for url in settings.webhook_urls
    ]
    tasks = [asyncio.create_task(s.run(), name=f"webhook {s.shown}") for s in senders]
    yield
    for sender in senders:
        sender.stopping.set()
    _, late = await asyncio.wait(tasks, timeout=TIMEOUT.total)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
