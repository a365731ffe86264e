"""Request bodies read within a bound, and dropped the moment they are refused.

aiohttp's ``request.read()`` (and ``request.post()``, which uses it) reads up to
``client_max_size`` and raises 413 from the frame that holds what it read: the body
buffer and the last chunk, 2 to 4 MiB for a 1 MiB limit. aiohttp answers an
``HTTPException`` by keeping the exception as the response (``resp = exc`` in
``RequestHandler._handle_request``), which closes a reference cycle through the
exception's traceback: every frame it passed through stays alive, buffers and all, until
the cyclic garbage collector next runs, some dozens of requests later. Oversized bodies
in a row then held 100 MB and more (reliability row 11).

So here a body longer than the limit is refused by its ``Content-Length`` before a byte
of it is read, and a body without one (chunked) is read by a function that returns None
once it passes the limit: its buffers are freed on return, before the caller raises.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

# An unsubscribe form, a one-click body or a login form is a few bytes; anything bigger
# is not one.
MAX_FORM = 64 * 1024


def too_long(request: web.Request, limit: int) -> bool:
    """True when the request's ``Content-Length`` says the body is over ``limit`` bytes."""
    length = request.content_length
    return bool(limit) and length is not None and length > limit


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body (decoded), or None when it is longer than ``limit`` bytes.

    ``limit`` 0 is no limit, as aiohttp's ``client_max_size``. What was read of a refused
    body is freed when this returns; aiohttp discards the rest after the answer.
    """
    if too_long(request, limit):
        return None
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if limit and len(body) > limit:
            return None
    return bytes(body)


async def read_form(
    request: web.Request, limit: int = MAX_FORM
) -> MultiDictProxy[str | bytes | bytearray | web.FileField] | None:
    """The urlencoded or multipart form, or None when the body is over ``limit`` bytes.

    aiohttp's parser raises its 413 when the limit is passed; it is caught here, so the
    exception (and the frames holding what was read, at most ``limit`` bytes and a chunk)
    is freed on return instead of waiting for the cyclic collector.
    """
    if too_long(request, limit):
        return None
    try:
        return await request.clone(client_max_size=limit).post()
    except web.HTTPRequestEntityTooLarge:
        return None
