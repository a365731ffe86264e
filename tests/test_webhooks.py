"""Webhooks out: a real local receiver that fails at first gets every event once, in order."""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import API_KEY
from tracker.app import create_app
from tracker.config import Settings
from tracker.webhooks import sign

SECRET = "hook-secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Receiver:
    """An endpoint that answers 500 to its first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        expected = sign(SECRET, request.headers["X-Tracker-Timestamp"], body)
        if not hmac.compare_digest(expected, request.headers["X-Tracker-Signature"]):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.requests <= self.failures:
            return web.Response(status=500)
        self.events += json.loads(body)["events"]
        return web.Response(text="ok")


async def wait_for_count(receiver: Receiver, count: int) -> None:
    for _ in range(400):
        if len(receiver.events) >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"received {len(receiver.events)} of {count}")


async def send_events(tracker: TestServer, ids: range) -> None:
    batch = [{"id": f"ev-{i}", "type": "sent", "delivery": "d", "recipient": f"r{i}"} for i in ids]
    async with aiohttp.ClientSession() as session:
        url = tracker.make_url("/api/v1/events")
        async with session.post(url, json=batch, headers=AUTH) as resp:
            assert resp.status == 200


async def test_every_event_once_in_order_across_failures_and_a_restart(
    settings: Settings,
) -> None:
    receiver = Receiver(failures=3)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    endpoint = TestServer(app, host="127.0.0.1")
    await endpoint.start_server()
    hooked = replace(
        settings,
        webhook_urls=(str(endpoint.make_url("/hook")),),
        webhook_secret=SECRET,
        webhook_batch=7,
        webhook_interval=0.02,
    )
    try:
        first = TestServer(create_app(hooked), host="127.0.0.1")
        await first.start_server()
        await send_events(first, range(30))
        await wait_for_count(receiver, 30)
        await first.close()  # a graceful restart in the middle

        second = TestServer(create_app(hooked), host="127.0.0.1")
        await second.start_server()
        await send_events(second, range(30, 50))
        await wait_for_count(receiver, 50)
        await asyncio.sleep(0.1)  # anything sent twice would arrive now
        await second.close()
    finally:
        await endpoint.close()

    assert receiver.requests > 3, "the failed batches were sent again"
    assert receiver.bad_signatures == 0
    assert [e["id"] for e in receiver.events] == [f"ev-{i}" for i in range(50)]
    cursors = [int(e["cursor"]) for e in receiver.events]
    assert cursors == sorted(cursors)
