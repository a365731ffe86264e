"""The sending system's API under /api/v1: delivery events in, mailability out."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aiohttp import web

from tracker.events import iso
from tracker.ingest import BadItem, SendEvent, parse_item
from tracker.keys import CLOCK, STORE
from tracker.routes.replies import (
    error,
    json_body,
    json_reply,
    number,
    path_id,
    query_event_type,
    query_limit,
)
from tracker.routes.table import RouteTable
from tracker.rules import mailability
from tracker.tokens import MAX_ID_LENGTH

routes = RouteTable()

# The most events one request may carry; a sender splits bigger batches.
MAX_BATCH = 10_000
# The most events one page of the export holds.
MAX_PAGE = 5_000


def _isoz(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@routes.post("/events")
async def post_events(request: web.Request) -> web.Response:
    """Store a JSON list of Sent, Delivered and bounce events; an outcome per item.

    Idempotent by each item's ``id``: a retried batch changes nothing. A bad item is
    reported with its index and the field at fault; the good items are kept.
    """
    body = await json_body(request, "a JSON list of events")
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        body = body["events"]
    if not isinstance(body, list) or not body:
        return error(400, "bad_request", "The body must be a non-empty JSON list of events.")
    if len(body) > MAX_BATCH:
        return error(413, "too_many_events", f"At most {MAX_BATCH} events per request.")
    now = request.config_dict[CLOCK]()
    now_text = iso(now)
    results: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    good: list[SendEvent] = []
    for index, item in enumerate(body):
        item_id = item.get("id") if isinstance(item, dict) else None
        entry: dict[str, Any] = {"index": index, "id": item_id if type(item_id) is str else None}
        results.append(entry)
        try:
            good.append(parse_item(item, now, now_text))
        except BadItem as exc:
            entry["status"] = "invalid"
            entry["error"] = str(exc)
        else:
            entries.append(entry)
    if good:
        outcomes = await request.config_dict[STORE].record_events(good)
        for entry, event, outcome in zip(entries, good, outcomes, strict=True):
            entry["status"] = outcome
            if event.disagrees is not None:
                entry["disagrees"] = event.disagrees
    counts = Counter(entry["status"] for entry in results)
    return json_reply({"results": results, "counts": counts})


@routes.get("/events")
async def get_events(request: web.Request) -> web.Response:
    """The activity log in commit order: ``?after=CURSOR&limit=N&type=T`` → ``{items, next}``.

    Each item carries its ``cursor``; ``next`` is the cursor to ask for the next page, or
    null once everything stored so far has been read (resume from the last item's cursor).
    """
    after = number(request.query.get("after") or "0")
    if after is None:
        return error(400, "bad_request", "after must be a cursor from an earlier answer")
    limit = query_limit(request, 500, MAX_PAGE)
    event_type = query_event_type(request)
    items = await request.config_dict[STORE].events_after(after, limit, event_type)
    full = len(items) == limit
    return web.json_response({"items": items, "next": items[-1]["cursor"] if full else None})


def _answer(
    recipient: str, campaign: str | None, rows: list[tuple[str, str, str | None]], now: datetime
) -> dict[str, Any]:
    events = [(kind, datetime.fromisoformat(at.replace("Z", "+00:00")), c) for kind, at, c in rows]
    answer = mailability(events, now)
    return {
        "recipient": recipient,
        "campaign": campaign,
        "mailable": answer.mailable,
        "reason": answer.reason,
        "until": _isoz(answer.until) if answer.until else None,
    }


@routes.get("/recipients/{recipient}/mailable")
async def get_mailable(request: web.Request) -> web.Response:
    """``{mailable, reason, until}``: may this person be mailed now (by ``?campaign=``)."""
    recipient = path_id(request, "recipient")
    rows = await request.config_dict[STORE].suppressions(recipient)
    now = request.config_dict[CLOCK]()
    return web.json_response(_answer(recipient, request.query.get("campaign"), rows, now))


@routes.post("/mailable")
async def post_mailable(request: web.Request) -> web.Response:
    """``{recipients: [...], campaign?}`` → ``{results: [...]}``, one answer per recipient."""
    body = await json_body(request, "a JSON object")
    recipients = body.get("recipients") if isinstance(body, dict) else None
    if not isinstance(recipients, list) or not 0 < len(recipients) <= MAX_BATCH:
        return error(400, "bad_request", f"recipients: a list of 1 to {MAX_BATCH} ids")
    if not all(isinstance(r, str) and 0 < len(r) <= MAX_ID_LENGTH for r in recipients):
        return error(400, "bad_request", f"recipients: ids of 1 to {MAX_ID_LENGTH} characters")
    campaign = body.get("campaign") if isinstance(body.get("campaign"), str) else None
    found = await request.config_dict[STORE].suppressions_many(recipients)
    now = request.config_dict[CLOCK]()
    results = [_answer(r, campaign, found.get(r, []), now) for r in recipients]
    return web.json_response({"results": results})
