"""The consent API under /api/v1: a person's tracking consent, one or many at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from tracker.consent import MAX_TEXT, Source, State
from tracker.events import iso
from tracker.ingest import BadItem, parse_time
from tracker.keys import CLOCK, STORE
from tracker.routes.replies import bad_request, error, json_body, path_id
from tracker.routes.table import RouteTable
from tracker.store.rows import ConsentRow
from tracker.tokens import MAX_ID_LENGTH, is_utf8

routes = RouteTable()

# The most states one import request may carry.
MAX_CONSENT_BATCH = 10_000
_STATES = ", ".join(State)
_SOURCES = ", ".join(Source)
_LINE_BREAKS = str.maketrans("\n\r\t", "   ")


def _choice(
    item: dict[str, Any], key: str, allowed: type[State] | type[Source], default: str
) -> str:
    value = item.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str) or value not in allowed.__members__.values():
        names = _STATES if allowed is State else _SOURCES
        raise BadItem(f"{key}: must be one of {names}")
    return value


def _wording(item: dict[str, Any], default: str | None) -> str | None:
    value = item.get("text", default)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadItem(f"text: must be a string of at most {MAX_TEXT} characters")
    if not is_utf8(value) or not value.translate(_LINE_BREAKS).isprintable():
        raise BadItem("text: must be printable UTF-8 text (line breaks allowed)")
    return value


def _recipient(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise BadItem(f"recipient: must be a string of 1 to {MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise BadItem("recipient: must be printable text")
    return value


def parse_change(item: Any, recipient: Any, now: datetime, defaults: dict[str, Any]) -> ConsentRow:
    """One change: ``{state, source?, text?, at?}`` for ``recipient``; BadItem names the field."""
    if not isinstance(item, dict):
        raise BadItem("item: must be an object")
    if "state" not in item:
        raise BadItem(f"state: required, one of {_STATES}")
    return ConsentRow(
        recipient=_recipient(recipient),
        state=_choice(item, "state", State, ""),
        at=parse_time(item.get("at", defaults.get("at")), now),
        source=_choice(item, "source", Source, defaults.get("source", Source.API)),
        text=_wording(item, defaults.get("text")),
    )


@routes.put("/recipients/{recipient}/consent")
async def put_consent(request: web.Request) -> web.Response:
    """Set the person's state; ``?erase=true`` with a state that is not ``granted`` also
    deletes their stored hits (their events, and so the counts, stay)."""
    recipient = path_id(request, "recipient")
    erase = request.query.get("erase", "false")
    if erase not in ("true", "false"):
        return error(400, "bad_request", "erase must be true or false")
    body = await json_body(request, "a JSON object {state, source?, text?, at?}")
    now = request.config_dict[CLOCK]()
    try:
        change = parse_change(body, recipient, now, {})
    except BadItem as exc:
        raise bad_request(str(exc)) from None
    if erase == "true" and change.state == State.GRANTED:
        return error(
            400, "bad_request", "erase=true erases a withdrawn person's hits: not with granted"
        )
    store = request.config_dict[STORE]
    erased = await store.set_consent([change], iso(now), erase == "true")
    answer = await store.consent(recipient)
    if erase == "true":
        answer["erased_hits"] = erased
    return web.json_response(answer)


@routes.get("/recipients/{recipient}/consent")
async def get_consent(request: web.Request) -> web.Response:
    """The person's current state (``unknown`` when never stated) and its history."""
    recipient = path_id(request, "recipient")
    return web.json_response(await request.config_dict[STORE].consent(recipient))


@routes.post("/consent")
async def post_consent(request: web.Request) -> web.Response:
    """Import states: a JSON list of ``{recipient, state, source?, text?, at?}``, or
    ``{items: [...], source?, text?, at?}`` whose fields are each item's defaults (source
    ``import``). An outcome per item; a bad item is reported, the good ones are kept."""
    body = await json_body(request, "a JSON list of consent states")
    defaults: dict[str, Any] = {"source": Source.IMPORT}
    if isinstance(body, dict):
        defaults.update({k: body[k] for k in ("source", "text", "at") if body.get(k) is not None})
        body = body.get("items")
    if not isinstance(body, list) or not body:
        return error(400, "bad_request", "The body must be a non-empty JSON list of states.")
    if len(body) > MAX_CONSENT_BATCH:
        return error(413, "too_many_states", f"At most {MAX_CONSENT_BATCH} states per request.")
    now = request.config_dict[CLOCK]()
    try:
        # The shared defaults are checked once, as if an item.
        parse_change({"state": State.UNKNOWN, **defaults}, "-", now, {})
    except BadItem as exc:
        raise bad_request(f"defaults: {exc}") from None
    results: list[dict[str, Any]] = []
    good: list[ConsentRow] = []
    for index, item in enumerate(body):
        who = item.get("recipient") if isinstance(item, dict) else None
        entry: dict[str, Any] = {"index": index, "recipient": who if isinstance(who, str) else None}
        try:
            good.append(parse_change(item, who, now, defaults))
            entry["status"] = "stored"
        except BadItem as exc:
            entry.update(status="invalid", error=str(exc))
        results.append(entry)
    if good:
        await request.config_dict[STORE].set_consent(good, iso(now))
    counts: dict[str, int] = {}
    for entry in results:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return web.json_response({"results": results, "counts": counts})
