"""``POST /api/v1/bounces``: one raw bounce or complaint message, as a mailbox received it."""

from __future__ import annotations

from aiohttp import web

from tracker.bounces.intake import take
from tracker.bounces.parse import Unreadable
from tracker.keys import CLOCK, STORE, TOKENS
from tracker.routes.bodies import read_body
from tracker.routes.replies import error, too_large
from tracker.routes.table import RouteTable

routes = RouteTable()

MESSAGE_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")
_FLAGS = {"true": True, "1": True, "false": False, "0": False, "": False}


@routes.post("/bounces")
async def post_bounce(request: web.Request) -> web.Response:
    """The message (``Content-Type: message/rfc822``) → ``{kind, results}``, one result per
    failed recipient; ``?dry_run=true`` stores nothing, ``?envelope=`` gives the envelope
    recipient it was sent to (a VERP address names the message)."""
    if request.content_type not in MESSAGE_TYPES:
        return error(415, "unsupported_media_type", "The body must be message/rfc822.")
    dry_run = _FLAGS.get(request.query.get("dry_run", "").lower())
    if dry_run is None:
        return error(400, "bad_request", "dry_run must be true or false")
    envelope = request.query.get("envelope")
    if envelope is not None and (len(envelope) > 512 or not envelope.isprintable()):
        return error(400, "bad_request", "envelope: an address of at most 512 characters")
    limit = request.client_max_size
    raw = await read_body(request, limit)
    if raw is None:
        raise too_large(limit)
    try:
        intake = await take(
            request.config_dict[STORE],
            request.config_dict[TOKENS],
            raw,
            envelope=envelope,
            dry_run=dry_run,
            now=request.config_dict[CLOCK](),
        )
    except Unreadable as exc:
        return error(400, "bad_request", f"The body is not an email message: {exc}.")
    return web.json_response(intake.answer())
