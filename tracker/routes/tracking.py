"""The open pixel and the click redirect."""

from __future__ import annotations

from aiohttp import web

from tracker import metrics
from tracker.events import EventType, Route
from tracker.keys import RECORDER, TOKENS
from tracker.pages import invalid_link_page
from tracker.routes.table import RouteTable
from tracker.tokens import BadToken

routes = RouteTable()

# The smallest transparent 1x1 GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache", "Expires": "0"}


def pixel() -> web.Response:
    return web.Response(body=PIXEL, content_type="image/gif", headers=NO_STORE)


@routes.get("/o/{token}.gif")
async def open_pixel(request: web.Request) -> web.Response:
    """Log Opened (GET only, deduped by the store) when the token verifies.

    Always answers the pixel: a broken image helps no one, and a bad token logs nothing.
    """
    app = request.app
    try:
        message = app[TOKENS].read_open(request.match_info["token"])
    except BadToken:
        metrics.HITS.count(Route.OPEN, "bad_token")
        return pixel()
    is_get = request.method == "GET"
    event = EventType.OPENED if is_get else None
    outcome = "pixel" if is_get else "not_counted"
    recorder = app[RECORDER]
    await recorder.record(recorder.build(request, Route.OPEN, message, outcome, event))
    return pixel()


@routes.get(r"/o/{tail:[\s\S]*}")  # any character, newlines (%0A) too
async def open_pixel_malformed(request: web.Request) -> web.Response:
    """Anything else under /o/ is a pixel whose URL was mangled: answer the pixel, log nothing."""
    metrics.HITS.count(Route.OPEN, "bad_token")
    return pixel()


@routes.get("/c/{token}")
async def click(request: web.Request) -> web.Response:
    """Log Clicked (every GET) and redirect to the signed target.

    A bad or tampered token answers 404 and never redirects: this is not an open redirect.
    ``read_click`` checks the target's scheme again here, not only when it was signed.
    """
    app = request.app
    try:
        target = app[TOKENS].read_click(request.match_info["token"])
    except BadToken:
        metrics.HITS.count(Route.CLICK, "bad_token")
        return invalid_link_page(request)
    is_get = request.method == "GET"
    event = EventType.CLICKED if is_get else None
    outcome = "redirect" if is_get else "not_counted"
    recorder = app[RECORDER]
    hit = recorder.build(
        request, Route.CLICK, target.message, outcome, event, target.link, target.url
    )
    await recorder.record(hit)
    return web.Response(status=302, headers={"Location": target.url, **NO_STORE})
