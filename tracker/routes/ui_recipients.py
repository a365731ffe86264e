"""The dashboard's recipients: a search by id, and a person's page (their tracking, whether
they can be mailed and why not, their bounces and unsubscribes)."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from tracker.consent import Policy, State, allows
from tracker.events import EventType, iso
from tracker.keys import CLOCK, SETTINGS, STORE
from tracker.routes.table import RouteTable
from tracker.routes.ui_common import MAX_ID, bad_request, bots, page, require_login, traffic
from tracker.rules import mailability
from tracker.ui_format import parse

routes = RouteTable()
FOUND = 50
EVENTS = 500
STATES = tuple(s.value for s in State)
CHANGES = 10  # the latest consent changes shown on a person's page


@routes.get("/ui/recipients")
async def search(request: web.Request) -> web.Response:
    """Recipients whose id starts with ``?q=`` (one found exactly opens at once); or, with
    ``?delivery=&consent=``, the delivery's recipients whose consent is that state now."""
    await require_login(request)
    if "delivery" in request.query or "consent" in request.query:
        return await by_consent(request)
    prefix = request.query.get("q", "").strip()
    if len(prefix) > MAX_ID:
        return await bad_request(request, f"q must be at most {MAX_ID} characters")
    store = request.config_dict[STORE]
    found = await store.recipients(prefix, FOUND + 1) if prefix else []
    return await page(request, "ui_recipients.html", search=prefix, found=found[:FOUND],
                      more=len(found) > FOUND)  # fmt: skip


async def by_consent(request: web.Request) -> web.Response:
    """A delivery's recipients of one consent state, by id, a page at a time (``after``)."""
    delivery = request.query.get("delivery", "")
    consent = request.query.get("consent", "")
    after = request.query.get("after", "")
    if not delivery or len(delivery) > MAX_ID:
        return await bad_request(request, f"delivery must be 1 to {MAX_ID} characters")
    if consent not in STATES:
        return await bad_request(request, "consent must be one of: " + ", ".join(STATES))
    if len(after) > MAX_ID:
        return await bad_request(request, f"after must be at most {MAX_ID} characters")
    store = request.config_dict[STORE]
    if not await store.delivery_known(delivery):
        return await page(request, "ui_no_delivery.html", 404, delivery=delivery)
    found = await store.recipients_by_consent(delivery, consent, after, FOUND + 1)
    following = None
    if len(found) > FOUND:
        found = found[:FOUND]
        following = urlencode({"delivery": delivery, "consent": consent,
                               "after": found[-1]["recipient"]})  # fmt: skip
    return await page(request, "ui_recipients.html", search="", delivery=delivery,
                      consent=consent, after=after, found=found, next=following)  # fmt: skip


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
    settings = request.config_dict[SETTINGS]
    consent = await store.consent(person, CHANGES)
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
        consent=consent, changes=CHANGES, policy=settings.consent,
        tracked=allows(Policy(settings.consent), State(consent["state"])),
        overrides=bool(settings.consent_campaigns),
        until=iso(answer.until) if answer.until else None,
    )  # fmt: skip
