"""JSON replies of the API: errors and checked path parameters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, overload

import orjson
from aiohttp import web

from tracker.events import EventType, iso
from tracker.eventtypes import HIT_TYPES
from tracker.routes.bodies import read_body
from tracker.tokens import MAX_ID_LENGTH
from tracker.verdicts import Verdict


def error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """A JSON error body: ``{"error": code, "message": …}``."""
    return web.json_response({"error": code, "message": message}, status=status, headers=headers)


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 to raise, with the same JSON body as ``error``."""
    return web.HTTPBadRequest(
        text=json.dumps({"error": "bad_request", "message": message}),
        content_type="application/json",
    )


def path_id(request: web.Request, name: str) -> str:
    """The path parameter ``name`` as an id: 400 when empty or too long."""
    value = request.match_info[name]
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise bad_request(f"{name} must be 1 to {MAX_ID_LENGTH} characters")
    return value


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    """A 413 to raise, with the same JSON body as ``error``."""
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        text=json.dumps(
            {"error": "too_large", "message": f"The body may be at most {limit} bytes."}
        ),
        content_type="application/json",
    )


async def json_body(request: web.Request, what: str) -> Any:
    """The request's JSON body; 400 saying it must be ``what`` when it cannot be read, 413
    when it is longer than ``client_max_size`` (``max_body``; refused before reading when
    its ``Content-Length`` says so, see tracker.routes.bodies)."""
    limit = request.client_max_size
    body = await read_body(request, limit)
    if body is None:
        raise too_large(limit)
    return loads(body, what)


def loads(body: bytes, what: str) -> Any:
    """``body`` decoded as ``json.loads`` does; 400 saying it must be ``what`` if it cannot.

    orjson reads the common case (UTF-8, no lone surrogates, no NaN, integers of 64 bits)
    four to six times faster; what it refuses goes to ``json.loads``, so the same bodies are
    taken and the same items judged by the same rules.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        raise bad_request(f"The body must be {what}.") from None


def json_reply(body: Any, status: int = 200) -> web.Response:
    """A JSON answer encoded by orjson (UTF-8, not ASCII-escaped), or by ``json.dumps``
    where orjson refuses a value (a string holding a lone surrogate, which ``json.loads``
    lets through)."""
    try:
        data = orjson.dumps(body)
    except orjson.JSONEncodeError:
        data = json.dumps(body).encode()
    return web.Response(body=data, status=status, content_type="application/json", charset="utf-8")


# The largest cursor or id a store holds (a signed 64-bit column).
MAX_INT64 = 2**63 - 1


def number(text: str, least: int = 0, most: int = MAX_INT64) -> int | None:
    """``text`` as a whole number from ``least`` to ``most``, or None.

    Only ASCII digits count (``isdigit()`` also takes "²" and other scripts' digits, which
    ``int()`` refuses), and their length is checked before ``int()`` sees them.
    """
    if not 0 < len(text) <= len(str(most)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if least <= value <= most else None


def query_limit(request: web.Request, default: int, most: int) -> int:
    """``?limit=``, 1 to ``most``; 400 otherwise."""
    value = number(request.query.get("limit", str(default)), 1, most)
    if value is None:
        raise bad_request(f"limit must be between 1 and {most}")
    return value


def query_event_type(request: web.Request) -> str | None:
    """``?type=``, an event type or absent; 400 otherwise."""
    value = request.query.get("type") or None
    if value is not None and value not in EventType.__members__.values():
        raise bad_request(f"type must be one of: {', '.join(EventType)}")
    return value


BOTS = {"exclude": "human", "include": "all", "only": "machine"}
# What the raw tracking log can be filtered by: the kind of hit, and its verdict.
LOG_TYPES = HIT_TYPES
VERDICT_NAMES = tuple(v.value for v in Verdict)


def query_traffic(request: web.Request) -> str:
    """``?bots=``: ``exclude`` (people only, the default), ``include`` or ``only``.

    Returns what the store counts: ``human``, ``all`` or ``machine`` traffic.
    """
    value = request.query.get("bots", "exclude")
    if value not in BOTS:
        raise bad_request("bots must be one of: exclude, include, only")
    return BOTS[value]


def query_time(request: web.Request, name: str) -> str | None:
    """``?name=`` as a stored time (ISO 8601; a date or a time without zone is UTC)."""
    value = request.query.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an ISO 8601 date or time") from None
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@overload
def query_int(request: web.Request, name: str, default: int, most: int = MAX_INT64) -> int: ...


@overload
def query_int(
    request: web.Request, name: str, default: None = None, most: int = MAX_INT64
) -> int | None: ...


def query_int(
    request: web.Request, name: str, default: int | None = None, most: int = MAX_INT64
) -> int | None:
    """``?name=`` as a whole number from 0 to ``most``; 400 otherwise."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    value = number(text, 0, most)
    if value is None:
        raise bad_request(f"{name} must be a whole number from 0 to {most}")
    return value
