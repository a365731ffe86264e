"""The report API under /api/v1 (bearer key): recipient tracking, delivery stats and URLs."""

from __future__ import annotations

from aiohttp import web

from tracker.keys import STORE
from tracker.routes.auth import Middleware, require_api_key
from tracker.routes.decorate_api import routes as decorate_routes
from tracker.routes.replies import error, path_id, query_event_type, query_limit, query_traffic
from tracker.routes.sending import routes as sending_routes
from tracker.routes.table import RouteTable, add_fallback

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
        recipient, event_type, sort == "desc", limit, query_traffic(request)
    )
    return web.json_response({"recipient": recipient, "items": items})


@routes.get("/deliveries/{delivery}/stats")
async def delivery_stats(request: web.Request) -> web.Response:
    """Counts of the delivery's events so far; opened is after the dedupe rule."""
    delivery = path_id(request, "delivery")
    stats = await request.config_dict[STORE].delivery_stats(delivery, query_traffic(request))
    return web.json_response({"delivery": delivery, **stats})


@routes.get("/deliveries/{delivery}/urls")
async def delivery_urls(request: web.Request) -> web.Response:
    """Each link of the delivery: position, URL, clicks and unique clickers."""
    delivery = path_id(request, "delivery")
    urls = await request.config_dict[STORE].delivery_urls(delivery, query_traffic(request))
    return web.json_response(urls)


def api_app(*middlewares: Middleware) -> web.Application:
    """The /api/v1 sub-application: ``middlewares``, then every route behind the API key."""
    app = web.Application(middlewares=[*middlewares, require_api_key])
    app.add_routes(routes)
    app.add_routes(sending_routes)
    app.add_routes(decorate_routes)
    add_fallback(app)  # last: an unknown API path gets a JSON 404 from us
    return app
