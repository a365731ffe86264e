"""A delivery's pages in the dashboard: statistics, URLs, hot clicks (and the email's own
frame), tracking logs and their CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tracker import charts
from tracker.consent import campaign_policy
from tracker.decorate_pool import Busy, OverBudget
from tracker.email_frame import frame_document, frame_policy
from tracker.eventtypes import FIGURES
from tracker.keys import DECORATE_POOL, PAGES, SETTINGS, STORE
from tracker.pages import UI_HEADERS, render
from tracker.routes.replies import LOG_TYPES, VERDICT_NAMES, number
from tracker.routes.table import RouteTable
from tracker.routes.ui_common import MAX_ID, bad_request, bots, page, require_login, traffic
from tracker.routes.ui_deliveries import safe_cell
from tracker.store.base import DeliveryTemplate, LogFilter

routes = RouteTable()

TABS = [("stats", "Tracking statistics"), ("urls", "URLs and click streams"),
        ("hot", "Hot clicks"), ("logs", "Tracking logs")]  # fmt: skip
LOG_PAGE = 50
EXPORT_PAGE = 1000
LOG_COLUMNS = ("at", "type", "method", "recipient", "link", "url", "ip", "user_agent",
               "verdict", "reasons", "client", "device")  # fmt: skip


async def known(request: web.Request) -> str | web.Response:
    """The path's delivery, or the 404 page saying nothing names it."""
    delivery = request.match_info["delivery"][:MAX_ID]
    if not await request.config_dict[STORE].delivery_known(delivery):
        return await page(request, "ui_no_delivery.html", 404, delivery=delivery)
    return delivery


def delivery_policy(request: web.Request, template: DeliveryTemplate | None) -> str:
    """The consent policy of the delivery's campaign (the default one when it was never
    registered, so its campaign is not known)."""
    settings = request.config_dict[SETTINGS]
    campaign = template.campaign if template is not None else ""
    return campaign_policy(settings.consent, settings.consent_campaigns, campaign).value


def log_filter(request: web.Request) -> LogFilter | str:
    """The logs' filters from the address, or what is wrong with them."""
    event_type = request.query.get("type") or None
    verdict = request.query.get("verdict") or None
    if event_type is not None and event_type not in LOG_TYPES:
        return "type must be one of: " + ", ".join(LOG_TYPES)
    if verdict is not None and verdict not in VERDICT_NAMES:
        return "verdict must be one of: " + ", ".join(VERDICT_NAMES)
    recipient = request.query.get("recipient") or None
    if recipient is not None and len(recipient) > MAX_ID:
        return "recipient is too long"
    return LogFilter(event_type=event_type, verdict=verdict, recipient=recipient)


@routes.get("/ui/deliveries/{delivery}")
async def delivery(request: web.Request) -> web.Response:
    await require_login(request)
    found = await known(request)
    if isinstance(found, web.Response):
        return found
    tab = request.query.get("tab", "stats")
    if tab not in dict(TABS):
        tab = "stats"
    counting = traffic(request)
    store = request.config_dict[STORE]
    template = await store.delivery(found)
    context: dict[str, Any] = {"delivery": found, "tab": tab, "tabs": TABS,
                               "bots": bots(request), "template": template}  # fmt: skip
    if tab == "stats":
        context["stats"] = await store.delivery_stats(found, counting)
        context["figures"] = FIGURES
        context["chart"] = charts.timeline(await store.delivery_timeline(found, counting))
        context["clients"] = await store.delivery_clients(found, counting)
        context["client_bars"] = charts.client_bars(context["clients"])
        context["consent_mix"] = charts.consent_mix(context["stats"]["consent"])
        context["consent_policy"] = delivery_policy(request, template)
    elif tab == "urls":
        context["urls"] = await store.delivery_urls(found, counting)
    elif tab == "hot":
        urls = await store.delivery_urls(found, counting)
        context["urls"] = urls
        context["hot"] = {"links": [{k: u[k] for k in ("link", "clicks", "share")} for u in urls]}
    else:
        filters = log_filter(request)
        if isinstance(filters, str):
            return await bad_request(request, filters)
        after = number(request.query.get("after") or "0")
        if after is None:
            message = "after must be a position from this page's Next link (a whole number)."
            return await bad_request(request, message)
        items, following = await store.delivery_logs(found, filters, after=after, limit=LOG_PAGE)
        query = {k: v for k, v in request.query.items() if k != "after"}
        export = {k: v for k, v in query.items() if k in ("type", "verdict", "recipient") and v}
        context.update(
            logs=items,
            filters=filters,
            log_types=LOG_TYPES,
            verdicts=VERDICT_NAMES,
            export=urlencode(export),
            next=urlencode({**query, "after": following}) if following else None,
        )
    return await page(request, "ui_delivery.html", **context)


@routes.get("/ui/deliveries/{delivery}/email")
async def email(request: web.Request) -> web.Response:
    """The delivery's email for the hot-clicks frame, under its own policy (email_frame)."""
    await require_login(request)
    found = await known(request)
    if isinstance(found, web.Response):
        return found
    template = await request.config_dict[STORE].delivery(found)
    env = request.config_dict[PAGES]
    if template is None or not template.html:
        note = "This delivery's HTML was not registered (decorate it through tracker to see it)."
        return render(env, "ui_frame_note.html", 200, UI_HEADERS, note=note)
    base_url = request.config_dict[SETTINGS].base_url
    try:
        # Parsed in the decorate pool, as the API's templates are: a stored copy (one a
        # CLI registered passed no budget) must not hold up other requests.
        html, images = await request.config_dict[DECORATE_POOL].run(
            frame_document, template.html, base_url, (f"{request.scheme}://{request.host}",)
        )
    except (Busy, OverBudget):
        note = ("This delivery's HTML is too costly to show now (over the decorate budget, or"
                " decoration is busy): try again later.")  # fmt: skip
        return render(env, "ui_frame_note.html", 200, UI_HEADERS, note=note)
    headers = {**UI_HEADERS, "Content-Security-Policy": frame_policy(images)}
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


@routes.get("/ui/deliveries/{delivery}/logs.csv")
async def logs_csv(request: web.Request) -> web.StreamResponse:
    """Every raw hit the logs' filters select, oldest first, as CSV (streamed by pages)."""
    await require_login(request)
    found = await known(request)
    if isinstance(found, web.Response):
        return found
    filters = log_filter(request)
    if isinstance(filters, str):
        return await bad_request(request, filters)
    store = request.config_dict[STORE]
    response = web.StreamResponse(headers={
        **UI_HEADERS, "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{csv_name(found)}-logs.csv"'})  # fmt: skip
    await response.prepare(request)
    after: int | None = 0
    header = True
    while after is not None:
        items, after = await store.delivery_logs(found, filters, after=after, limit=EXPORT_PAGE)
        out = io.StringIO()
        writer = csv.writer(out)
        if header:
            writer.writerow(LOG_COLUMNS)
            header = False
        for item in items:
            writer.writerow([log_cell(item, column) for column in LOG_COLUMNS])
        await response.write(out.getvalue().encode())
    await response.write_eof()
    return response


def log_cell(item: dict[str, Any], column: str) -> Any:
    """One hit's value for the CSV: reasons space-separated, text safe from spreadsheets."""
    value = item.get(column)
    if column == "reasons":
        return " ".join(value or ())
    return safe_cell(value)


def csv_name(delivery: str) -> str:
    """The delivery id as a file name: letters, digits, ``-``, ``_`` and ``.`` only."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in delivery)
