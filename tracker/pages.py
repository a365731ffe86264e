"""Server-rendered pages: Jinja2 templates from the package, always autoescaped."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from tracker import ui_format
from tracker.keys import PAGES

# Pages hold a capability (the token) in their URL: no caching, no referrer, no framing,
# and nothing but our own stylesheet may load.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def environment() -> Environment:
    """The Jinja2 environment for tracker's pages."""
    env = Environment(
        loader=PackageLoader("tracker", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        enable_async=False,
    )
    ui_format.register(env)
    return env


# The dashboard runs tracker's own scripts and shows a delivery's HTML in a sandboxed frame.
# Its referrer policy is same-origin, not no-referrer: under no-referrer a browser sends
# "Origin: null" with the dashboard's own forms, and login and logout check the Origin.
# Other sites still get no referrer.
UI_HEADERS = {
    **PAGE_HEADERS,
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
        "frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
    ),
}


def render(
    env: Environment,
    name: str,
    status: int = 200,
    headers: dict[str, str] = PAGE_HEADERS,
    **context: Any,
) -> web.Response:
    """A rendered page with the headers every page gets."""
    html = env.get_template(name).render(**context)
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    """A short page saying what went wrong, in words a recipient understands."""
    return render(request.config_dict[PAGES], "error.html", status, title=title, message=message)


def invalid_link_page(request: web.Request) -> web.Response:
    """The page for a link that is not (or no longer) valid."""
    message = "This link is not valid. Check that it was copied completely."
    return error_page(request, 404, "Link not found", message)
