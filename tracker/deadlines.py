"""Connection deadlines: a request's head must arrive in time, idle connections close.

aiohttp closes a connection that stays idle for ``keepalive_timeout`` (from its opening,
and after each answer), but a client that sends part of a request's head and then
trickles or stops is only cut by that same timer. Here the head (request line and
headers) must also be complete ``header_timeout`` seconds after its first byte came, so
a few hundred such sockets cannot hold a server's file descriptors for long.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger("tracker.http")


class HeadDeadline(RequestHandler):
    """aiohttp's connection handler, closing the connection when a head comes late."""

    def __init__(self, manager: web.Server, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads_when_armed = 0

    def data_received(self, data: bytes) -> None:
        heads = self._request_count  # heads parsed (or refused) so far on this connection
        super().data_received(data)
        if self._request_count != heads:
            self._disarm()
        elif data and self._head_timer is None:
            self._heads_when_armed = heads
            self._head_timer = self._loop.call_later(self._header_timeout, self._late)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _late(self) -> None:
        """Close when still waiting for the head the timer was armed for. Bytes that came
        while a request was being answered (its body) leave it alone."""
        self._head_timer = None
        waiting = self._waiter is not None and not self._waiter.done()
        if waiting and self._request_count == self._heads_when_armed:
            log.debug("connection closed", reason="request head not complete in time")
            self.force_close()


class HeadDeadlineServer(web.Server):
    """aiohttp's low-level server whose connections are ``HeadDeadline`` handlers."""

    def __init__(self, handler: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return HeadDeadline(self, self.header_timeout, loop=self._loop, **self._kwargs)


class DeadlineRunner(web.AppRunner):
    """aiohttp's ``AppRunner`` serving through a ``HeadDeadlineServer``."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts the app: its startup hooks run once
        return HeadDeadlineServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            header_timeout=self._header_timeout,
            **made._kwargs,
        )
