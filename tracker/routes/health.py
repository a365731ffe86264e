"""Operator routes: /healthz and /metrics."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from tracker import metrics
from tracker.keys import STORE, WORKFLOW
from tracker.routes.table import RouteTable

routes = RouteTable()
log = structlog.get_logger("tracker.health")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 with the database's state; 503 when the database cannot be read."""
    store = request.config_dict[STORE]
    try:
        await store.ping()
        database = "ok"
    except Exception as exc:  # any failure to read means unhealthy, whatever its kind
        log.error("health check failed", error=str(exc))
        database = "error"
    workflow: dict[str, Any] | None = None
    if database == "ok":
        try:
            workflow = await request.config_dict[WORKFLOW].health()
        except Exception as exc:  # the health page must answer whatever the database says
            log.error("workflow state unreadable", error=str(exc))
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "writer_queue": store.queue_depth,
        "workflow": workflow,
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    metrics.QUEUE_DEPTH.set(request.config_dict[STORE].queue_depth)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    """No icon: browsers ask for one on every page; an empty answer, kept a day."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})
