"""Route tables whose routes answer any ``Expect`` header with a 4xx, never a 5xx.

aiohttp's default Expect handler runs before any middleware and builds its 417 text from
the raw header; a header that is not UTF-8 then fails to encode and becomes a 500. Every
route of tracker uses ``safe_expect`` instead, and ``no_route`` takes the requests no
route matches, so no system route (with the default handler) is ever reached.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.web_routedef import _Deco

from tracker.routes.replies import error


async def safe_expect(request: web.Request) -> None:
    """``100 Continue`` for ``Expect: 100-continue``; 417 for anything else."""
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text="Only Expect: 100-continue is supported.")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0


class RouteTable(web.RouteTableDef):
    """A ``RouteTableDef`` whose routes use ``safe_expect``."""

    def route(self, method: str, path: str, **kwargs: Any) -> _Deco:
        kwargs.setdefault("expect_handler", safe_expect)
        return super().route(method, path, **kwargs)


async def no_route(request: web.Request) -> web.StreamResponse:
    """The answer for a path no route serves (JSON under /api/, text elsewhere)."""
    if request.path.startswith("/api/"):
        return error(404, "not_found", "No such API route.")
    return web.Response(status=404, text="Not found.\n")


def add_fallback(app: web.Application) -> None:
    """Register ``no_route`` for every method and path; call it after all other routes."""
    app.router.add_route("*", r"/{tail:[\s\S]*}", no_route, expect_handler=safe_expect)
