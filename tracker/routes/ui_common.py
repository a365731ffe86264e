"""What every dashboard page shares: the session check, the page with the workflow's
warning, the people-or-machines switch and the dashboard's 4xx pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tracker.keys import CLOCK, PAGES, SESSIONS, WORKFLOW
from tracker.pages import UI_HEADERS, render
from tracker.routes.replies import BOTS
from tracker.store.base import StoreUnavailable
from tracker.ui_session import COOKIE, Sessions

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


async def require_login(request: web.Request) -> None:
    """Send a browser without a session to the login form."""
    if not await signed_in(request):
        raise web.HTTPSeeOther("/ui/login")


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


async def bad_request(request: web.Request, message: str) -> web.Response:
    """A 400 page naming what is wrong with the address."""
    return await page(request, "ui_problem.html", 400, title="Bad request", message=message)


def bots(request: web.Request) -> str:
    value = request.query.get("bots", "exclude")
    return value if value in BOTS else "exclude"


def traffic(request: web.Request) -> str:
    """What the page counts: ``human`` (people only) or ``all`` (machines too)."""
    return BOTS[bots(request)]
