"""JSON replies of the API: errors and checked path parameters."""

from __future__ import annotations

import json

from aiohttp import web

from tracker.tokens import MAX_ID_LENGTH


def error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """A JSON error body: ``{"error": code, "message": …}``."""
    return web.json_response({"error": code, "message": message}, status=status, headers=headers)


def path_id(request: web.Request, name: str) -> str:
    """The path parameter ``name`` as an id: 400 when empty or too long."""
    value = request.match_info[name]
    if not 0 < len(value) <= MAX_ID_LENGTH:
        message = f"{name} must be 1 to {MAX_ID_LENGTH} characters"
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_request", "message": message}),
            content_type="application/json",
        )
    return value
