"""The application factory: reads like a table of contents of the server."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from tracker import pages, smtp_listener
from tracker.config import Settings
from tracker.decorate_pool import DecoratePool, stop_decorate_pool
from tracker.events import iso, iso_now
from tracker.hooks.state import hook_state, hooks_ctx
from tracker.keys import (
    CLOCK,
    DECORATE_POOL,
    HOOKS,
    PAGES,
    RECORDER,
    SETTINGS,
    STORE,
    TOKENS,
    VIEWS,
)
from tracker.recorder import HitRecorder
from tracker.render_cache import RenderCache
from tracker.routes import api, health, hooks, mirror, preferences, tracking, ui, unsubscribe
from tracker.routes.table import add_fallback, no_route, safe_expect
from tracker.store import open_store
from tracker.store.base import Store
from tracker.tokens import Tokens
from tracker.webhooks import webhooks_ctx
from tracker.workflow import workflow_ctx

log = structlog.get_logger("tracker.http")


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One canonical log line per request, named by route pattern (never the token)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex[:16])
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        log.info(
            "request",
            method=request.method,
            route=route,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )


def static_dir(settings: Settings) -> Path | None:
    """The folder of page assets: configured, beside the package, or installed data."""
    candidates = [Path(settings.static_dir)] if settings.static_dir else []
    candidates += [
        Path(__file__).resolve().parent.parent / "static",
        Path(sys.prefix) / "share" / "tracker" / "static",
    ]
    return next((p for p in candidates if (p / "tracker.css").is_file()), None)


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the store (migrating it) at start; flush the writer and close it at shutdown."""
    store = app[STORE]
    await store.open()
    yield
    await store.close()
    log.info("store closed")


def utc_now() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    store: Store | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> web.Application:
    """The tracker application for ``settings`` (secrets must already be filled in)."""
    # No middleware on the root app: tracking hits take the shortest path aiohttp has, and
    # the raw log and /metrics account for them. The API logs each request itself.
    app = web.Application(client_max_size=settings.max_body)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[TOKENS] = Tokens(settings.secret_keys)
    app[PAGES] = pages.environment()
    app[STORE] = store if store is not None else open_store(settings)
    # Hits take the fast clock unless a test gave its own.
    now = iso_now if clock is utc_now else lambda: iso(clock())
    app[RECORDER] = HitRecorder(settings, app[STORE], now)
    app[DECORATE_POOL] = DecoratePool(settings.secret_keys, settings.decorate_seconds)
    app[VIEWS] = RenderCache()
    app[HOOKS] = hook_state(settings)
    smtp_listener.setup(app)  # before the store: a port in use stops the start first
    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(webhooks_ctx)  # after the store: stopped before it closes
    app.cleanup_ctx.append(workflow_ctx)
    app.cleanup_ctx.append(hooks_ctx)
    app.on_shutdown.append(stop_decorate_pool)

    app.add_routes(tracking.routes)
    app.add_routes(unsubscribe.routes)
    app.add_routes(preferences.routes)
    app.add_routes(mirror.routes)
    app.add_routes(health.routes)
    ui.setup(app)
    # The bare prefix is not the sub-application's: answer it here, before it.
    app.router.add_route("*", "/api/v1", no_route, expect_handler=safe_expect)
    app.add_subapp("/api/v1", api.api_app(request_log))
    app.router.add_route("*", "/hooks", no_route, expect_handler=safe_expect)
    app.add_subapp("/hooks", hooks.hooks_app(request_log, api.store_unavailable))
    assets = static_dir(settings)
    if assets is not None:
        app.router.add_static("/static", assets, expect_handler=safe_expect)
    add_fallback(app)  # last: what no route above serves
    return app
