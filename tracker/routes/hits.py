"""Turning a verified request into a stored hit."""

from __future__ import annotations

import structlog
from aiohttp import web

from tracker import metrics
from tracker.clientip import anonymise, client_address
from tracker.events import MAX_USER_AGENT, EventType, Hit, Route, crop, iso_now
from tracker.keys import SETTINGS, STORE
from tracker.store.base import StoreUnavailable
from tracker.tokens import Message

log = structlog.get_logger("tracker.hits")


def build_hit(
    request: web.Request,
    route: Route,
    message: Message,
    outcome: str,
    event: EventType | None,
    link: int | None = None,
    url: str | None = None,
) -> Hit:
    """The raw-log row for ``request``: time, anonymised client address, cropped agent."""
    settings = request.config_dict[SETTINGS]
    address = client_address(
        request.remote, request.headers.get("X-Forwarded-For"), settings.trusted_proxies
    )
    return Hit(
        route=route,
        method=request.method,
        outcome=outcome,
        at=iso_now(),
        message=message,
        ip=anonymise(address, settings.ipv4_prefix, settings.ipv6_prefix),
        user_agent=crop(request.headers.get("User-Agent"), MAX_USER_AGENT),
        event=event,
        link=link,
        url=url,
    )


async def record(request: web.Request, hit: Hit) -> bool:
    """Store ``hit`` and wait until it is committed; False (and counted) if it could not be."""
    try:
        await request.config_dict[STORE].record(hit)
    except StoreUnavailable as exc:
        metrics.HITS.labels(hit.route, "store_error").inc()
        log.error("hit not stored", route=hit.route, error=str(exc))
        return False
    metrics.HITS.labels(hit.route, hit.outcome).inc()
    return True
