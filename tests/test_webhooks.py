"""Webhooks out: a real local receiver that fails at first gets every event once, in order."""

from __future__ import annotations

import asyncio
import hmac
import json
import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import API_KEY, NEW_KEY
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.app import create_app
from tracker.config import Settings
from tracker.webhooks import sign

SECRET = "hook-secret-at-least-32-characters"
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


async def serve(receiver: Receiver) -> TestServer:
    """A local endpoint answering POST /hook with ``receiver``."""
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    endpoint = TestServer(app, host="127.0.0.1")
    await endpoint.start_server()
    return endpoint


async def wait_for_count(receiver: Receiver, count: int) -> None:
    for _ in range(400):
        if len(receiver.events) >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"received {len(receiver.events)} of {count}")


async def wait_for_marker(tracker: TestServer | Base, receiver: Receiver, i: int) -> None:
    """Send ``ev-{i}`` and wait until it arrives: events go out in cursor order, so any
    earlier event sent again would have arrived before it."""
    await send_events(tracker, range(i, i + 1))
    for _ in range(400):
        if f"ev-{i}" in [e["id"] for e in receiver.events]:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the marker ev-{i} did not arrive")


@dataclass
class Base:
    """A server process's address, with the one method ``send_events`` needs."""

    url: str

    def make_url(self, path: str) -> str:
        return self.url + path


async def send_events(tracker: TestServer | Base, ids: range) -> None:
    batch = [{"id": f"ev-{i}", "type": "sent", "delivery": "d", "recipient": f"r{i}"} for i in ids]
    async with aiohttp.ClientSession() as session:
        url = tracker.make_url("/api/v1/events")
        async with session.post(url, json=batch, headers=AUTH) as resp:
            assert resp.status == 200


async def test_every_event_once_in_order_across_failures_and_a_restart(
    settings: Settings,
) -> None:
    receiver = Receiver(failures=3)
    endpoint = await serve(receiver)
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
        await wait_for_marker(second, receiver, 50)  # anything sent twice came before it
        await second.close()
    finally:
        await endpoint.close()

    assert receiver.requests > 3, "the failed batches were sent again"
    assert receiver.bad_signatures == 0
    assert [e["id"] for e in receiver.events] == [f"ev-{i}" for i in range(51)]
    cursors = [int(e["cursor"]) for e in receiver.events]
    assert cursors == sorted(cursors)


async def test_kill_9_mid_delivery_resends_at_most_the_batch_in_flight(tmp_path: Path) -> None:
    """A real server process killed while delivering: the next one resumes from the cursor.

    The cursor is saved after the endpoint's 2xx, so only a batch acknowledged by the
    endpoint but not yet saved can come again; a receiver that keeps the last cursor (as
    the docs say) sees every event exactly once, in order.
    """
    receiver = Receiver(failures=2)
    endpoint = await serve(receiver)
    env = clean_env(
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_SECRET_KEYS=NEW_KEY,
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
        TRACKER_WEBHOOK_URLS=str(endpoint.make_url("/hook")),
        TRACKER_WEBHOOK_SECRET=SECRET,
        TRACKER_WEBHOOK_BATCH="10",
        TRACKER_WEBHOOK_INTERVAL="0.02",
    )
    port = free_port()
    first = ServerProcess(tmp_path, env, port, name="first")
    second = ServerProcess(tmp_path, env, port, name="second")
    try:
        first.start()
        await asyncio.to_thread(first.wait_healthy)
        base = Base(f"http://127.0.0.1:{port}")
        for start in range(0, 400, 100):
            await send_events(base, range(start, start + 100))
        await wait_for_count(receiver, 60)
        first.signal(signal.SIGKILL)  # mid-delivery: 400 events, batches of 10
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        received_at_kill = len(receiver.events)

        second.start()
        await asyncio.to_thread(second.wait_healthy)
        await send_events(base, range(400, 450))
        await wait_for_marker(base, receiver, 450)  # anything sent twice more came before it
    finally:
        first.stop()
        second.stop()
        await endpoint.close()

    print(
        f"\nwebhooks, kill -9: {received_at_kill} events received before the kill, "
        f"{len(receiver.events)} in all for 451 events"
    )
    assert receiver.bad_signatures == 0
    assert received_at_kill < 450, "the kill came before everything was delivered"
    repeated = len(receiver.events) - len({e["cursor"] for e in receiver.events})
    assert repeated <= 10, "at most the batch in flight at the kill comes again"
    last = 0
    kept = []
    for event in receiver.events:  # the receiver keeps the last cursor it saw
        if int(event["cursor"]) > last:
            last = int(event["cursor"])
            kept.append(event["id"])
    assert kept == [f"ev-{i}" for i in range(451)]


async def test_a_redirect_is_a_failure_and_logs_carry_no_credentials(tmp_path: Path) -> None:
    """A 307 would re-post the signed batch elsewhere: it is a failure, retried, and the
    second endpoint gets nothing. Log lines name endpoints without userinfo or query."""
    elsewhere = Receiver(failures=0)
    target = await serve(elsewhere)
    redirects = 0

    async def redirect(request: web.Request) -> web.Response:
        nonlocal redirects
        redirects += 1
        await request.read()
        raise web.HTTPTemporaryRedirect(str(target.make_url("/hook")))

    app = web.Application()
    app.router.add_post("/hook", redirect)
    redirecting = TestServer(app, host="127.0.0.1")
    await redirecting.start_server()
    closed = free_port()  # nothing listens: a connection error, logged
    shown = [f"http://127.0.0.1:{port}/hook" for port in (redirecting.port, closed)]
    urls = [u.replace("//", "//hookuser:pass-in-url@") + "?token=query-secret" for u in shown]
    env = clean_env(
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_SECRET_KEYS=SECRET,
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
        TRACKER_WEBHOOK_URLS=",".join(urls),
        TRACKER_WEBHOOK_SECRET=SECRET,
        TRACKER_WEBHOOK_INTERVAL="0.02",
    )
    server = ServerProcess(tmp_path, env, free_port())
    try:
        server.start()
        await asyncio.to_thread(server.wait_healthy)
        await send_events(Base(server.base_url), range(3))
        for _ in range(800):  # the first try and its retry after 0.5 s of backoff
            if redirects >= 2:
                break
            await asyncio.sleep(0.025)
        assert redirects >= 2, "a redirect is a failure, so the batch is sent again"
    finally:
        server.stop()
        await redirecting.close()
        await target.close()

    assert elsewhere.requests == 0, "the redirect's target got nothing"
    log = server.log_text()
    assert "pass-in-url" not in log and "query-secret" not in log and "hookuser" not in log
    failures = [r for r in server.log_records() if r.get("event", "").startswith("webhook")]
    logged = {(r["url"], r.get("status")) for r in failures}
    assert (shown[0], 307) in logged and (shown[1], None) in logged, failures
