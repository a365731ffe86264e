"""The dashboard's recipients: a search by id, and a person's page (their tracking, whether
they can be mailed and why not, their bounces and unsubscribes)."""

from __future__ import annotations

from aiohttp import web

from tracker.events import EventType, iso
from tracker.keys import CLOCK, STORE
from tracker.routes.table import RouteTable
from tracker.routes.ui_common import MAX_ID, bad_request, bots, page, require_login, traffic
from tracker.rules import mailability
from tracker.ui_format import parse

routes = RouteTable()
FOUND = 50
EVENTS = 500


@routes.get("/ui/recipients")
async def search(request: web.Request) -> web.Response:
    """Recipients whose id starts with ``?q=`` (one found exactly opens at once)."""
    await require_login(request)
    prefix = request.query.get("q", "").strip()
    if len(prefix) > MAX_ID:
        return await bad_request(request, f"q must be at most {MAX_ID} characters")
    store = request.config_dict[STORE]
    found = await store.recipients(prefix, FOUND + 1) if prefix else []
    return await page(request, "ui_recipients.html", search=prefix, found=found[:FOUND],
                      more=len(found) > FOUND)  # fmt: skip


@routes.get("/ui/recipients/{recipient}")
async def recipient(request: web.Request) -> web.Response:
    await require_login(request)
    person = request.match_info["recipient"][:MAX_ID]
    store = request.config_dict[STORE]
    if not await store.recipient_known(person):
        return await page(request, "ui_no_recipient.html", 404, recipient=person)
    types = [t.value for t in EventType]
    event_type = request.query.get("type") or None
    if event_type is not None and event_type not in types:
        return await bad_request(request, "type must be one of: " + ", ".join(types))
    sort = request.query.get("sort", "desc")
    if sort not in ("asc", "desc"):
        return await bad_request(request, "sort must be asc or desc")
    items = await store.recipient_tracking(person, event_type, sort == "desc", EVENTS,
                                           traffic(request))  # fmt: skip
    suppressions = await store.suppressions(person)
    moments = [(kind, parse(at), category) for kind, at, category in suppressions]
    answer = mailability([(k, at, c) for k, at, c in moments if at is not None],
                         request.config_dict[CLOCK]())  # fmt: skip
    return await page(
        request, "ui_recipient.html", recipient=person, items=items, types=types,
        event_type=event_type, newest=sort == "desc", bots=bots(request), mailable=answer,
        outcomes=await store.recipient_outcomes(person), shown=EVENTS,
        until=iso(answer.until) if answer.until else None,
    )  # fmt: skip
