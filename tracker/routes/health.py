"""Operator routes: /healthz and /metrics."""

from __future__ import annotations

import structlog
from aiohttp import web

from tracker import metrics
from tracker.keys import STORE
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
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "writer_queue": store.queue_depth,
        # The tracking workflow is not scheduled yet: no run to report.
        "workflow": {"last_run": None, "errors": None},
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    metrics.QUEUE_DEPTH.set(request.config_dict[STORE].queue_depth)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})
