"""What the dashboard's login and logout check before anything else: that the form came
from this site (its Origin, else its Referer), and that the client has not failed to log
in too often.

Origin: a browser sends it with every POST; it must be the public origin (``base_url``)
or the host the request was sent to (its ``Host``, which a browser sets to this server
whatever page made the form). ``null`` and any other site are refused with 403. Without
an Origin, a Referer from another site is refused too; with neither, the request is no
browser's cross-site form (browsers send an Origin on every POST) and is let through, so
scripts and ``curl`` can still log in.

Throttle: ``LIMIT`` failed logins within ``WINDOW`` seconds from one client (its address
anonymised as in the raw log, a /24 or /48 network) answer 429 with ``Retry-After`` until
the oldest of them is ``WINDOW`` old, even for the right key. The failures are rows in
the store, so every worker and node counts them together; a successful login clears them.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from aiohttp import web

from tracker.clientip import AddressResolver
from tracker.config import Settings
from tracker.store.base import Store

LIMIT = 10
WINDOW = 15 * 60


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lowercased; None for anything else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


def same_site(request: web.Request, base_url: str) -> bool:
    """Whether a login or logout form may have come from this site (see the module)."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        origin = referer
    found = origin_of(origin)
    if found is None:
        return False
    return found == origin_of(base_url) or found.partition("://")[2] == request.host.lower()


class LoginThrottle:
    """Counts failed logins per anonymised client in the store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        # Always a network, never a whole address, whatever the raw log's mode.
        self._client = AddressResolver(
            settings.trusted_proxies, settings.ipv4_prefix, settings.ipv6_prefix, "prefix"
        ).resolve
        self._store = store

    def client(self, request: web.Request) -> str:
        return self._client(request.remote, request.headers.get("X-Forwarded-For")) or "unknown"

    async def wait(self, client: str, now: int) -> int:
        """Seconds ``client`` must wait before trying again (0: it may try now)."""
        count, oldest = await self._store.login_failures(client, now - WINDOW)
        if count < LIMIT or oldest is None:
            return 0
        return max(1, math.ceil(oldest + WINDOW - now))

    async def failed(self, client: str, now: int) -> None:
        await self._store.login_failed(client, now, WINDOW)
