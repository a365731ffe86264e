"""The marketer's dashboard under /ui/: server-rendered pages behind a login.

Every page but the login needs the session cookie (tracker.ui_session); without it the
browser is sent to the login form. Pages read the same store functions as the report
API, people only unless ``?bots=include``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any, NoReturn
from urllib.parse import urlencode

import structlog
from aiohttp import web

from tracker.decorate import annotate_links
from tracker.decorate_pool import Busy, OverBudget
from tracker.events import EventType
from tracker.eventtypes import FIGURES
from tracker.keys import (
    CLOCK,
    DECORATE_POOL,
    PAGES,
    SESSIONS,
    SETTINGS,
    STORE,
    THROTTLE,
    WORKFLOW,
)
from tracker.login_throttle import LoginThrottle
from tracker.pages import UI_HEADERS, error_page, render
from tracker.routes.bodies import MAX_FORM, read_form
from tracker.routes.replies import BOTS, LOG_TYPES, VERDICT_NAMES, number
from tracker.routes.table import RouteTable
from tracker.routes.ui_guard import same_site
from tracker.store.base import LogFilter, StoreUnavailable
from tracker.ui_session import COOKIE, MAX_AGE, Sessions

log = structlog.get_logger("tracker.ui")
routes = RouteTable()

TABS = [("stats", "Tracking statistics"), ("urls", "URLs and click streams"),
        ("hot", "Hot clicks"), ("logs", "Tracking logs")]  # fmt: skip
MAX_ID = 256


def sessions(request: web.Request) -> Sessions:
    return request.config_dict[SESSIONS]


def now(request: web.Request) -> int:
    return int(request.config_dict[CLOCK]().timestamp())


def unavailable() -> web.HTTPServiceUnavailable:
    """A 503 to raise when the store cannot read or keep a session or a failed login."""
    return web.HTTPServiceUnavailable(
        text="The database is unavailable: try again in a moment.", headers={"Retry-After": "1"}
    )


async def signed_in(request: web.Request) -> bool:
    try:
        return await sessions(request).valid(request.cookies.get(COOKIE), now(request))
    except StoreUnavailable:
        raise unavailable() from None


def check_origin(request: web.Request) -> None:
    """403 for a login or logout form another site made (tracker.routes.ui_guard)."""
    if not same_site(request, request.config_dict[SETTINGS].base_url):
        raise web.HTTPForbidden(text="This form was not sent from this site.")


async def page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A dashboard page, with the workflow's warning when it is late."""
    warning = None
    if context.get("signed_in", True):
        health = await request.config_dict[WORKFLOW].health()
        warning = health["warning"]
    context.setdefault("signed_in", True)
    return render(
        request.config_dict[PAGES], name, status, UI_HEADERS, workflow_warning=warning, **context
    )


def to_login() -> NoReturn:
    raise web.HTTPSeeOther("/ui/login")


def bots(request: web.Request) -> str:
    value = request.query.get("bots", "exclude")
    return value if value in BOTS else "exclude"


@routes.get("/ui")
async def ui_root(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/ui/")


@routes.get("/ui/login")
async def login_form(request: web.Request) -> web.Response:
    return await page(request, "ui_login.html", signed_in=False, failed=False)


@routes.post("/ui/login")
async def login(request: web.Request) -> web.Response:
    check_origin(request)
    try:
        return await _login(request)
    except StoreUnavailable:
        raise unavailable() from None


async def _login(request: web.Request) -> web.Response:
    throttle = request.config_dict[THROTTLE]
    client = throttle.client(request)
    moment = now(request)
    wait = await throttle.wait(client, moment)
    if wait:
        minutes = math.ceil(wait / 60)
        failed = f"Too many failed logins from your network: try again in {minutes} min."
        resp = await page(request, "ui_login.html", 429, signed_in=False, failed=failed)
        resp.headers["Retry-After"] = str(wait)
        return resp
    form = await read_form(request)
    if form is None:  # over MAX_FORM: a key is a few bytes
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM)
    presented = form.get("key")
    cookie = (
        await sessions(request).login(presented, moment, client)
        if isinstance(presented, str)
        else None
    )
    if cookie is None:
        await throttle.failed(client, moment)
        failed = "That key is not valid."
        return await page(request, "ui_login.html", 403, signed_in=False, failed=failed)
    response = web.HTTPSeeOther("/ui/")
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=MAX_AGE,
        path="/ui/",
        httponly=True,
        samesite="Strict",
        secure=request.config_dict[SETTINGS].base_url.startswith("https://"),
    )
    raise response


@routes.post("/ui/logout")
async def logout(request: web.Request) -> web.Response:
    check_origin(request)
    try:
        await sessions(request).logout(request.cookies.get(COOKIE))
    except StoreUnavailable:
        raise unavailable() from None
    response = web.HTTPSeeOther("/ui/login")
    response.del_cookie(COOKIE, path="/ui/")
    raise response


@routes.get("/ui/")
async def deliveries(request: web.Request) -> web.Response:
    if not await signed_in(request):
        to_login()
    search = request.query.get("q", "")[:MAX_ID]
    newest = request.query.get("sort", "newest") != "oldest"
    found = await request.config_dict[STORE].deliveries(search, newest)
    return await page(request, "ui_deliveries.html", deliveries=found, search=search, newest=newest)


@routes.get("/ui/deliveries/{delivery}")
async def delivery(request: web.Request) -> web.Response:
    if not await signed_in(request):
        to_login()
    delivery = request.match_info["delivery"][:MAX_ID]
    if not await request.config_dict[STORE].delivery_known(delivery):
        return await page(request, "ui_no_delivery.html", 404, delivery=delivery)
    tab = request.query.get("tab", "stats")
    if tab not in dict(TABS):
        tab = "stats"
    counting = bots(request)
    traffic = BOTS[counting]
    store = request.config_dict[STORE]
    context: dict[str, Any] = {"delivery": delivery, "tab": tab, "tabs": TABS, "bots": counting}
    if tab == "stats":
        context["stats"] = await store.delivery_stats(delivery, traffic)
        context["figures"] = FIGURES
        context["chart"] = chart(await store.delivery_timeline(delivery, traffic))
        context["clients"] = await store.delivery_clients(delivery, traffic)
        context["client_bars"] = client_bars(context["clients"])
    elif tab == "urls":
        context["urls"] = await store.delivery_urls(delivery, traffic)
    elif tab == "hot":
        template = await store.delivery(delivery)
        urls = await store.delivery_urls(delivery, traffic)
        context["hot"] = {"links": [{k: u[k] for k in ("link", "clicks", "share")} for u in urls]}
        context["html"] = None
        if template is not None:
            # Parsed in the decorate pool, as the API's templates are: a stored copy (one a
            # CLI registered passed no budget) must not hold up other requests.
            base_url = request.config_dict[SETTINGS].base_url
            try:
                pool = request.config_dict[DECORATE_POOL]
                context["html"] = await pool.run(annotate_links, template.html, base_url)
            except (Busy, OverBudget):
                context["unshown"] = True
    else:
        event_type = request.query.get("type") or None
        verdict = request.query.get("verdict") or None
        filters = LogFilter(
            event_type=event_type if event_type in LOG_TYPES else None,
            verdict=verdict if verdict in VERDICT_NAMES else None,
            recipient=request.query.get("recipient", "")[:MAX_ID] or None,
        )
        context["log_types"] = LOG_TYPES
        after = number(request.query.get("after") or "0")
        if after is None:
            message = "after must be a position from this page's Next link (a whole number)."
            return error_page(request, 400, "Bad request", message)
        items, following = await store.delivery_logs(delivery, filters, after=after, limit=50)
        query = {k: v for k, v in request.query.items() if k != "after"}
        context.update(
            logs=items,
            filters=filters,
            next=urlencode({**query, "after": following}) if following else None,
        )
    return await page(request, "ui_delivery.html", **context)


def chart(hours: list[dict[str, Any]], width: int = 960, height: int = 180) -> dict[str, Any]:
    """Bar geometry for opens and clicks per hour (an inline SVG, no script)."""
    if not hours:
        return {"bars": []}
    top = max(max(h["opened"], h["clicks"]) for h in hours) or 1
    step = width / len(hours)
    bars = [
        {
            "hour": h["hour"],
            "opened": h["opened"],
            "clicks": h["clicks"],
            "x": round(i * step, 2),
            "w": round(step / 2, 2),
            "opened_h": round(h["opened"] / top * height, 2),
            "clicks_h": round(h["clicks"] / top * height, 2),
        }
        for i, h in enumerate(hours)
    ]
    return {"bars": bars, "width": width, "height": height,
            "first": hours[0]["hour"], "last": hours[-1]["hour"]}  # fmt: skip


def client_bars(clients: list[dict[str, Any]], width: int = 430) -> list[dict[str, Any]]:
    """Bar lengths for opens and clicks per mail client and device (an inline SVG)."""
    top = max((c["opened"] + c["clicks"] for c in clients), default=0) or 1
    return [
        {
            "label": f"{c['client']} ({c['device']})",
            "opened": c["opened"],
            "clicks": c["clicks"],
            "opened_w": round(c["opened"] / top * width, 1),
            "clicks_w": round(c["clicks"] / top * width, 1),
        }
        for c in clients[:12]
    ]


@routes.get("/ui/recipients/{recipient}")
async def recipient(request: web.Request) -> web.Response:
    if not await signed_in(request):
        to_login()
    person = request.match_info["recipient"][:MAX_ID]
    types = [t.value for t in EventType]
    event_type = request.query.get("type") or None
    if event_type not in types:
        event_type = None
    newest = request.query.get("sort", "desc") != "asc"
    items = await request.config_dict[STORE].recipient_tracking(
        person, event_type, newest, 500, BOTS[bots(request)]
    )
    return await page(
        request, "ui_recipient.html", recipient=person, items=items, types=types,
        event_type=event_type, newest=newest,
    )  # fmt: skip


@routes.get("/ui/workflow")
async def workflow(request: web.Request) -> web.Response:
    if not await signed_in(request):
        to_login()
    runs = await request.config_dict[STORE].workflow_runs(50)
    health = await request.config_dict[WORKFLOW].health()
    return await page(request, "ui_workflow.html", runs=runs, health=health)


async def end_stale_sessions(app: web.Application) -> AsyncIterator[None]:
    """At start (the store open): end the sessions of removed keys and the expired ones.

    A store that cannot write now does not stop the server: the sessions of removed keys
    are refused anyway (their MAC no longer verifies), and the next start tidies them.
    """
    try:
        await app[SESSIONS].end_stale(int(app[CLOCK]().timestamp()))
    except StoreUnavailable as exc:
        log.warning("dashboard sessions not tidied at start", error=str(exc))
    yield


def setup(app: web.Application) -> None:
    """Add the dashboard to ``app`` (its settings and store must be set; the store's
    context must already be in ``cleanup_ctx``)."""
    settings = app[SETTINGS]
    app[SESSIONS] = Sessions(settings.api_keys, app[STORE])
    app[THROTTLE] = LoginThrottle(settings, app[STORE])
    app.cleanup_ctx.append(end_stale_sessions)
    app.add_routes(routes)
