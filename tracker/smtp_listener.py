"""The SMTP listener: an MTA hands its bounces and complaints to tracker over SMTP.

Off unless ``smtp_port`` is set. It runs on the server's own event loop (one worker under
``--workers``), accepts mail only for ``bounce_domain`` (other recipients: 550), and hands
each message to the bounce intake once per accepted envelope recipient, so a VERP address
``b-<token>@<bounce domain>`` names the message that bounced. What cannot be read gets a
5xx reply (the MTA returns it to its postmaster and does not retry); a store that fails
gets 451 (the MTA keeps the message and retries): nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from tracker.bounces.intake import take
from tracker.bounces.parse import Unreadable
from tracker.keys import SETTINGS, SMTP_SERVER, STORE, TOKENS
from tracker.serving import ListenFailed

log = structlog.get_logger("tracker.smtp")

# Seconds a client may stay silent between commands (RFC 5321 asks for minutes; a stuck
# connection holds only itself).
IDLE_TIMEOUT = 300.0

# Turns one raw message and its envelope recipient into the intake's results.
Take = Callable[[bytes, str], Awaitable[list[dict[str, Any]]]]


class BounceHandler:
    """aiosmtpd hooks: recipients of the bounce domain only, each message to ``take``."""

    def __init__(self, domain: str, take: Take) -> None:
        self.domain = domain.lower()
        self.take = take

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain != self.domain:
            return f"550 5.1.2 not a bounce address: this server takes mail for @{self.domain}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data, which this listener never sets
            raw = raw.encode("utf-8", "surrogateescape")
        found = stored = 0
        try:
            for recipient in envelope.rcpt_tos:
                results = await self.take(raw, recipient)
                found += len(results)
                stored += sum(1 for r in results if r.get("stored"))
        except Unreadable as exc:
            log.warning("smtp message refused", reason=str(exc), size=len(raw))
            return f"554 5.6.0 message cannot be read: {exc}"
        except Exception as exc:  # the store failed: the MTA keeps the message, retries
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.error("smtp message deferred", error=error, size=len(raw))
            return "451 4.3.0 cannot store the bounce now, try again later"
        log.info("smtp message taken", results=found, stored=stored, size=len(raw))
        return f"250 2.0.0 OK: {found} result(s), {stored} stored"


class Listener:
    """The protocol factory of one listening socket; it knows its open sessions."""

    def __init__(self, domain: str, take: Take, max_size: int) -> None:
        self.handler = BounceHandler(domain, take)
        self.domain = domain
        self.max_size = max_size
        self.sessions: set[SMTP] = set()

    def __call__(self) -> SMTP:
        session = Connection(self, self.handler, self.max_size)
        self.sessions.add(session)
        return session

    def close_sessions(self) -> None:
        """Drop every open connection (at shutdown: an idle client must not hold it)."""
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()


class Connection(SMTP):
    """One SMTP connection, forgotten by its listener when it ends."""

    def __init__(self, owner: Listener, handler: BounceHandler, max_size: int) -> None:
        super().__init__(
            handler,
            data_size_limit=max_size,
            hostname=owner.domain,
            ident="tracker",
            timeout=IDLE_TIMEOUT,
            enable_SMTPUTF8=True,
        )
        self.owner = owner

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.sessions.discard(self)
        super().connection_lost(exc)


# The listening server and its protocol factory.
Listening = tuple[asyncio.Server, "Listener"]


def intake_take(app: web.Application) -> Take:
    """``take`` bound to the app's store and keys."""
    store, tokens = app[STORE], app[TOKENS]

    async def call(raw: bytes, recipient: str) -> list[dict[str, Any]]:
        return (await take(store, tokens, raw, recipient)).results

    return call


async def smtp_ctx(app: web.Application) -> AsyncIterator[None]:
    """Listen for mail while the app runs. Bound before the store opens (a port in use
    stops the start with nothing opened yet); it stops taking mail at shutdown, before
    the store closes (``stop_taking``)."""
    settings = app[SETTINGS]
    if not settings.smtp_port or os.environ.get("TRACKER_WORKER_INDEX", "0") != "0":
        yield
        return
    loop = asyncio.get_running_loop()
    factory = Listener(settings.bounce_domain, intake_take(app), settings.smtp_max_size)
    try:
        server = await loop.create_server(factory, settings.smtp_host, settings.smtp_port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenFailed(
            f"cannot listen for SMTP on {settings.smtp_host}:{settings.smtp_port}: {reason}"
        ) from exc
    app[SMTP_SERVER] = (server, factory)
    log.info("smtp listening", host=settings.smtp_host, port=settings.smtp_port)
    yield
    await stop_taking(app)


async def stop_taking(app: web.Application) -> None:
    """Close the listener and its connections (an idle MTA must not hold the stop)."""
    found = app.get(SMTP_SERVER)
    if found is None:
        return
    server, factory = found
    server.close()
    factory.close_sessions()
    await server.wait_closed()
    del app[SMTP_SERVER]


def setup(app: web.Application) -> None:
    """Add the listener to ``app``: call before the store's context is added."""
    app.cleanup_ctx.append(smtp_ctx)
    app.on_shutdown.append(stop_taking)
