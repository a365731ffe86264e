"""Running the app until SIGTERM, then draining keep-alive connections before the stop.

aiohttp's own ``run_app`` closes every idle keep-alive connection the moment it stops:
a request a client was sending on one at that instant is lost to a reset (or an empty
close), although the client had an open, accepted connection. Here a stop first closes
the listener, then answers every request still arriving on open connections with
``Connection: close`` for up to ``DRAIN_GRACE`` seconds (clients reconnect elsewhere:
another worker, node or the restarted server), and only then runs aiohttp's shutdown
(requests in flight get ``shutdown_timeout``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tracker.deadlines import DeadlineRunner
from tracker.keys import DRAIN

# Longest wait for open keep-alive connections to carry one more request and close.
DRAIN_GRACE = 1.0


class StoreFailed(Exception):
    """The store did not open at start (a read-only directory, a full disk)."""


class ListenFailed(Exception):
    """The address could not be listened on (a port in use, an unknown host)."""


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)


class Drain:
    """Whether the server drains; set once, after the listener has closed."""

    def __init__(self) -> None:
        self.on = False

    async def close_after_response(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        if self.on:
            # The hook runs after aiohttp chose the headers: say it, and close after.
            response.force_close()
            response.headers["Connection"] = "close"


def prepare(app: web.Application) -> None:
    """Make ``app`` answer with ``Connection: close`` once it drains (before it starts)."""
    app[DRAIN] = Drain()
    app.on_response_prepare.append(app[DRAIN].close_after_response)


async def _drain(
    app: web.Application, runner: web.AppRunner, site: web.TCPSite, grace: float
) -> None:
    await site.stop()  # no new connections: they go to another worker or node
    app[DRAIN].on = True
    server = runner.server
    step = 0.01
    for _ in range(int(grace / step)):
        if server is None or not server.connections:
            return
        await asyncio.sleep(step)


@dataclass(frozen=True)
class Deadlines:
    """Seconds a request's head may take from its first byte, and an idle connection lasts."""

    header_timeout: float
    keepalive_timeout: float


async def serve(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout: float,
    reuse_port: bool,
    listening: Callable[[], None],
    deadlines: Deadlines,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then drain, shut down and clean up."""
    runner = DeadlineRunner(
        app,
        header_timeout=deadlines.header_timeout,
        keepalive_timeout=deadlines.keepalive_timeout,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )
    try:
        await runner.setup()
    except (OSError, sqlite3.Error) as exc:
        raise StoreFailed(_reason(exc) if isinstance(exc, OSError) else str(exc)) from exc
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise ListenFailed(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc
        listening()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await _drain(app, runner, site, min(DRAIN_GRACE, shutdown_timeout / 2))
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    shutdown_timeout: float,
    reuse_port: bool,
    listening: Callable[[], None],
    deadlines: Deadlines,
) -> None:
    """``serve`` on ``loop`` until it returns, then close the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(
            serve(app, host, port, shutdown_timeout, reuse_port, listening, deadlines)
        )
    finally:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
