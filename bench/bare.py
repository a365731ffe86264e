"""The bare aiohttp baseline: the same two routes as tracker, doing no work at all.

python -m bench.bare PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

from tracker.cli import new_event_loop

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


async def pixel(request: web.Request) -> web.Response:
    return web.Response(body=PIXEL, content_type="image/gif")


async def click(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "https://example.com/"})


def main() -> None:
    app = web.Application()
    app.router.add_get("/o/{token}.gif", pixel)
    app.router.add_get("/c/{token}", click)
    # The same event loop as tracker's (uvloop when installed), so only the work differs.
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        loop=new_event_loop(),
    )


if __name__ == "__main__":
    main()
