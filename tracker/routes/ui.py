"""The marketer's dashboard under /ui/: server-rendered pages behind a login.

Every page but the login needs the session cookie (tracker.ui_session); without it the
browser is sent to the login form. Here: the login, the logout and the workflow's page;
the deliveries and campaigns (ui_deliveries), a delivery's tabs (ui_delivery) and the
recipients (ui_recipients) add their own routes. Pages read the same store functions as
the report API, people only unless ``?bots=include``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from tracker.keys import CLOCK, SESSIONS, SETTINGS, STORE, THROTTLE, WORKFLOW
from tracker.login_throttle import LoginThrottle
from tracker.routes import ui_deliveries, ui_delivery, ui_recipients
from tracker.routes.bodies import MAX_FORM, read_form
from tracker.routes.table import RouteTable
from tracker.routes.ui_common import now, page, require_login, sessions, unavailable
from tracker.routes.ui_guard import same_site
from tracker.store.base import StoreUnavailable
from tracker.ui_session import COOKIE, MAX_AGE, Sessions

log = structlog.get_logger("tracker.ui")
routes = RouteTable()


def check_origin(request: web.Request) -> None:
    """403 for a login or logout form another site made (tracker.routes.ui_guard)."""
    if not same_site(request, request.config_dict[SETTINGS].base_url):
        raise web.HTTPForbidden(text="This form was not sent from this site.")


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


@routes.get("/ui/workflow")
async def workflow(request: web.Request) -> web.Response:
    await require_login(request)
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
    for pages in (ui_deliveries.routes, ui_delivery.routes, ui_recipients.routes):
        app.add_routes(pages)
