"""Turning a verified request into a stored hit."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web
from multidict import CIMultiDictProxy

from tracker import metrics
from tracker.clientip import AddressResolver
from tracker.config import Settings
from tracker.events import MAX_USER_AGENT, EventType, Hit, Route, crop, iso_now
from tracker.store.base import Store, StoreUnavailable
from tracker.tokens import Message

log = structlog.get_logger("tracker.hits")


def forwarded_for(headers: CIMultiDictProxy[str]) -> str | None:
    """``X-Forwarded-For`` with its lines joined in order: a proxy that adds a line of its
    own after the client's puts the hop that counts last, where a single line has it."""
    lines = headers.getall("X-Forwarded-For", None)
    if lines is None or len(lines) == 1:
        return lines[0] if lines else None
    return ",".join(lines)


def _no_tracking(headers: CIMultiDictProxy[str]) -> bool:
    """Whether the browser asks not to be tracked: ``Sec-GPC: 1`` or ``DNT: 1``."""
    return headers.get("Sec-GPC", "").strip() == "1" or headers.get("DNT", "").strip() == "1"


class HitRecorder:
    """Builds the raw-log row of a request and waits until it is committed.

    Bound once to the settings and the store, so a hit does no lookups it can avoid.
    """

    def __init__(self, settings: Settings, store: Store, now: Callable[[], str] = iso_now) -> None:
        self._store = store
        self._now = now
        self._address = AddressResolver(
            settings.trusted_proxies,
            settings.ipv4_prefix,
            settings.ipv6_prefix,
            settings.anonymise_ip,
        ).resolve
        # The kill switch: opens and clicks are answered as always and recorded nowhere.
        self._tracking = settings.tracking == "on"
        self._honour_gpc = settings.honour_gpc == "on"

    def build(
        self,
        request: web.Request,
        route: Route,
        message: Message,
        outcome: str,
        event: EventType | None,
        link: int | None = None,
        url: str | None = None,
    ) -> Hit:
        """The row for ``request``: time, anonymised client address, cropped user agent."""
        headers = request.headers
        return Hit(
            route=route,
            method=request.method,
            outcome=outcome,
            at=self._now(),
            message=message,
            ip=self._address(request.remote, forwarded_for(headers)),
            user_agent=crop(headers.get("User-Agent"), MAX_USER_AGENT),
            event=event,
            link=link,
            url=url,
            untracked=self._honour_gpc and route is not Route.UNSUBSCRIBE and _no_tracking(headers),
        )

    async def record(self, hit: Hit) -> bool:
        """Store ``hit``, returning once committed; False (counted, logged) if it could not be."""
        if not self._tracking and hit.route is not Route.UNSUBSCRIBE:
            metrics.HITS.count(hit.route, "not_recorded")
            return True
        try:
            await self._store.record(hit)
        except StoreUnavailable as exc:
            metrics.HITS.count(hit.route, "store_error")
            log.error("hit not stored", route=hit.route, error=str(exc))
            return False
        metrics.HITS.count(hit.route, hit.outcome)
        return True
