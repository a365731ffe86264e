"""Failed dashboard logins, counted per client in the store.

``LIMIT`` failed logins within ``WINDOW`` seconds from one client (its address anonymised
as in the raw log, a /24 or /48 network) answer 429 with ``Retry-After`` until the oldest
of them is ``WINDOW`` old, even for the right key. The failures are rows in the store, so
every worker and node counts them together; a successful login clears them.
"""

from __future__ import annotations

import math

from aiohttp import web

from tracker.clientip import AddressResolver
from tracker.config import Settings
from tracker.store.base import Store

LIMIT = 10
WINDOW = 15 * 60


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
