"""Bearer API keys: 401 without a key, 403 with a wrong one; compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["Handler", "Middleware", "key_matches", "require_api_key"]

from tracker.keys import SETTINGS
from tracker.routes.replies import error


def key_matches(presented: str, keys: Sequence[str]) -> bool:
    """True when ``presented`` equals one of ``keys``; every key is compared, in constant time."""
    given = presented.encode("utf-8", "replace")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8"))
    return found


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let a request through only with ``Authorization: Bearer <one of the API keys>``."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return error(
            401,
            "unauthorized",
            "An API key is required: Authorization: Bearer <key>.",
            **{"WWW-Authenticate": 'Bearer realm="tracker"'},
        )
    if not key_matches(presented.strip(), request.config_dict[SETTINGS].api_keys):
        return error(403, "forbidden", "The API key is not valid.")
    return await handler(request)
