"""Bearer API keys: 401 without a key, 403 with a wrong one; compared in constant time."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tracker.apikeys import matching_key
from tracker.keys import SETTINGS
from tracker.routes.replies import error


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
    if matching_key(presented.strip(), request.config_dict[SETTINGS].api_keys) is None:
        return error(403, "forbidden", "The API key is not valid.")
    return await handler(request)
