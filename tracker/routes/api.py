"""The report API under /api/v1 (bearer key): recipient tracking, delivery stats and URLs."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tracker.eventtypes import names
from tracker.keys import STORE
from tracker.routes.auth import require_api_key
from tracker.routes.bounces import routes as bounce_routes
from tracker.routes.consent_api import routes as consent_routes
from tracker.routes.decorate_api import routes as decorate_routes
from tracker.routes.replies import (
    LOG_TYPES,
    VERDICT_NAMES,
    error,
    path_id,
    query_event_type,
    query_int,
    query_limit,
    query_time,
    query_traffic,
)
from tracker.routes.sending import routes as sending_routes
from tracker.routes.table import RouteTable, add_fallback
from tracker.store.base import LogFilter, StoreUnavailable
from tracker.tokens import MAX_ID_LENGTH, MAX_LINKS

routes = RouteTable()

MAX_LIMIT = 1000


@routes.get("/recipients/{recipient}/tracking")
async def recipient_tracking(request: web.Request) -> web.Response:
    """The person's activity log: ``?type=`` filters, ``?sort=asc|desc`` (default newest first)."""
    recipient = path_id(request, "recipient")
    event_type = query_event_type(request)
    sort = request.query.get("sort", "desc")
    if sort not in ("asc", "desc"):
        return error(400, "bad_request", "sort must be asc or desc")
    limit = query_limit(request, 100, MAX_LIMIT)
    items = await request.config_dict[STORE].recipient_tracking(
        recipient,
        event_type,
        sort == "desc",
        limit,
        query_traffic(request),
        query_time(request, "since"),
        query_time(request, "until"),
    )
    return web.json_response({"recipient": recipient, "items": items})


async def known_delivery(request: web.Request) -> str:
    """The path's delivery id: 404 when nothing at all is known of it (no Sent, decorate
    registration, hit or event), 200 with zeros for a known one with no activity."""
    delivery = path_id(request, "delivery")
    if not await request.config_dict[STORE].delivery_known(delivery):
        raise web.HTTPNotFound(
            text=json.dumps(
                {"error": "not_found", "message": f"No delivery {delivery!r} is known."}
            ),
            content_type="application/json",
        )
    return delivery


@routes.get("/deliveries/{delivery}/stats")
async def delivery_stats(request: web.Request) -> web.Response:
    """Counts of the delivery's events so far; opened is after the dedupe rule."""
    delivery = await known_delivery(request)
    stats = await request.config_dict[STORE].delivery_stats(delivery, query_traffic(request))
    return web.json_response({"delivery": delivery, **stats})


@routes.get("/deliveries/{delivery}/urls")
async def delivery_urls(request: web.Request) -> web.Response:
    """Each link of the delivery: position, URL, clicks and unique clickers."""
    delivery = await known_delivery(request)
    urls = await request.config_dict[STORE].delivery_urls(delivery, query_traffic(request))
    return web.json_response(urls)


@routes.get("/deliveries/{delivery}/hot-clicks")
async def hot_clicks(request: web.Request) -> web.Response:
    """Each link position's share of the clicks, for drawing on the delivery's HTML."""
    delivery = await known_delivery(request)
    urls = await request.config_dict[STORE].delivery_urls(delivery, query_traffic(request))
    links = [{"link": u["link"], "url": u["url"], "clicks": u["clicks"], "share": u["share"]}
             for u in urls]  # fmt: skip
    return web.json_response({"delivery": delivery, "links": links})


@routes.get("/deliveries/{delivery}/timeline")
async def timeline(request: web.Request) -> web.Response:
    """Opens and clicks per hour (UTC)."""
    delivery = await known_delivery(request)
    hours = await request.config_dict[STORE].delivery_timeline(delivery, query_traffic(request))
    return web.json_response({"delivery": delivery, "hours": hours})


@routes.get("/deliveries/{delivery}/clients")
async def clients(request: web.Request) -> web.Response:
    """Opens and clicks by mail client (or browser) and device."""
    delivery = await known_delivery(request)
    found = await request.config_dict[STORE].delivery_clients(delivery, query_traffic(request))
    return web.json_response({"delivery": delivery, "clients": found})


@routes.get("/deliveries/{delivery}/logs")
async def logs(request: web.Request) -> web.Response:
    """Every raw hit, oldest first: ``?type= recipient= link= since= until= verdict=
    after= limit=``; ``next`` is the cursor of the following page (null at the end)."""
    delivery = await known_delivery(request)
    event_type = query_event_type(request)
    if event_type is not None and event_type not in LOG_TYPES:
        return error(400, "bad_request", f"type must be one of: {names(LOG_TYPES)}")
    verdict = request.query.get("verdict") or None
    if verdict is not None and verdict not in VERDICT_NAMES:
        return error(400, "bad_request", "verdict must be one of: human, machine_open, bot")
    recipient = request.query.get("recipient") or None
    if recipient is not None and len(recipient) > MAX_ID_LENGTH:
        return error(400, "bad_request", "recipient is too long")
    filters = LogFilter(
        event_type=event_type,
        recipient=recipient,
        link=query_int(request, "link", most=MAX_LINKS - 1),
        since=query_time(request, "since"),
        until=query_time(request, "until"),
        verdict=verdict,
    )
    items, following = await request.config_dict[STORE].delivery_logs(
        delivery,
        filters,
        after=query_int(request, "after", 0),
        limit=query_limit(request, 100, MAX_LIMIT),
    )
    return web.json_response(
        {"items": items, "next": None if following is None else str(following)}
    )


@web.middleware
async def store_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write the store could not commit (after its retries) is a JSON 503, not a 500.

    Nothing was stored, so the sender may retry (event ids make a retry idempotent).
    """
    try:
        return await handler(request)
    except StoreUnavailable:
        return error(503, "unavailable", "The store could not commit this just now; retry.",
                     **{"Retry-After": "1"})  # fmt: skip


def api_app(*middlewares: Middleware) -> web.Application:
    """The /api/v1 sub-application: ``middlewares``, then every route behind the API key."""
    app = web.Application(middlewares=[*middlewares, store_unavailable, require_api_key])
    app.add_routes(routes)
    app.add_routes(sending_routes)
    app.add_routes(decorate_routes)
    app.add_routes(bounce_routes)
    app.add_routes(consent_routes)
    add_fallback(app)  # last: an unknown API path gets a JSON 404 from us
    return app
