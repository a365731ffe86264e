"""The dashboard's deliveries list (figures, sort, search, date range, campaign) and the
campaign page comparing its deliveries."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tracker import charts
from tracker.keys import STORE
from tracker.pages import UI_HEADERS
from tracker.routes.table import RouteTable
from tracker.routes.ui_common import MAX_ID, bad_request, bots, page, require_login, traffic
from tracker.store.reports import rates_of

routes = RouteTable()

# Sortable columns: key -> (heading, value of a delivery to sort by).
COLUMNS: dict[str, tuple[str, Any]] = {
    "delivery": ("Delivery", lambda d: d["delivery"]),
    "campaign": ("Campaign", lambda d: d["campaign"] or ""),
    "date": ("Date", lambda d: d["date"] or ""),
    "sent": ("Sent", lambda d: d["sent"]),
    "delivered": ("Delivered", lambda d: d["rates"]["delivery"] or 0),
    "opened": ("Opened", lambda d: d["opened"]),
    "open_rate": ("Open rate", lambda d: d["rates"]["open"] or 0),
    "clicks": ("Clicks", lambda d: d["clicks"]),
    "unique_clickers": ("Clickers", lambda d: d["unique_clickers"]),
    "click_rate": ("Click rate", lambda d: d["rates"]["click"] or 0),
    "unsubscribed": ("Unsub\u00adscribes", lambda d: d["unsubscribed"]),
    "hard_bounced": ("Hard bounces", lambda d: d["hard_bounced"]),
    "soft_bounced": ("Soft bounces", lambda d: d["soft_bounced"]),
    "last_activity": ("Last activity", lambda d: d["last_activity"] or ""),
}
LEGACY_SORTS = {"newest": ("date", "desc"), "oldest": ("date", "asc")}
SHOWN = 500
COUNTS = ("sent", "delivered", "hard_bounced", "soft_bounced", "opened", "clicks",
          "unique_clickers", "unsubscribed")  # fmt: skip
# The CSV's last columns (after the others, so no column moves): the messages sent and
# delivered tracked (consent), over which the open and click rates are.
TRACKED = ("tracked_sent", "tracked_delivered")


class Listing:
    """The list's query: search, campaign, date range, sort; or what is wrong with it."""

    def __init__(self, query: Any) -> None:
        self.search = query.get("q", "")[:MAX_ID]
        self.campaign = query.get("campaign", "")[:MAX_ID]
        self.since_text = query.get("from", "")
        self.until_text = query.get("to", "")
        self.problem: str | None = None
        self.since = self._day(self.since_text, "from")
        self.until = self._day(self.until_text, "to")
        sort, order = query.get("sort", "date"), query.get("order", "desc")
        sort, order = LEGACY_SORTS.get(sort, (sort, order))
        if sort not in COLUMNS:
            self.problem = "sort must be one of: " + ", ".join(COLUMNS)
        if order not in ("asc", "desc"):
            self.problem = "order must be asc or desc"
        self.sort, self.order = sort, order
        self.bots = "include" if query.get("bots") == "include" else "exclude"

    def _day(self, text: str, name: str) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.problem = f"{name} must be a date like 2026-11-30"
            return None

    def keeps(self, d: dict[str, Any]) -> bool:
        """Whether delivery ``d`` is in the list."""
        needle = self.search.casefold()
        if needle and not any(needle in (d[k] or "").casefold()
                              for k in ("delivery", "campaign", "email")):  # fmt: skip
            return False
        if self.campaign and d["campaign"] != self.campaign:
            return False
        day = (d["date"] or "")[:10]
        if self.since and (not day or day < self.since.isoformat()):
            return False
        return not (self.until and (not day or day >= (self.until + timedelta(days=1)).isoformat()))

    def apply(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [d for d in found if self.keeps(d)]
        key = COLUMNS[self.sort][1]
        kept.sort(key=lambda d: d["delivery"])
        kept.sort(key=key, reverse=self.order == "desc")
        return kept

    def params(self, **changes: str) -> str:
        """This list's address query with ``changes``, empty values left out."""
        values = {"q": self.search, "campaign": self.campaign, "from": self.since_text,
                  "to": self.until_text, "sort": self.sort, "order": self.order,
                  "bots": "" if self.bots == "exclude" else self.bots, **changes}  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v})

    def sort_link(self, column: str) -> str:
        """The address sorting by ``column``: descending first, flipped when it is on."""
        order = "asc" if column == self.sort and self.order == "desc" else "desc"
        if column in ("delivery", "campaign") and column != self.sort:
            order = "asc"
        return "?" + self.params(sort=column, order=order)


def totals(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The deliveries' counts added up, with the rates of the sums."""
    out: dict[str, Any] = {k: sum(d[k] for d in found) for k in (*COUNTS, *TRACKED)}
    out["rates"] = rates_of(out)
    return out


@routes.get("/ui/")
async def deliveries(request: web.Request) -> web.Response:
    await require_login(request)
    listing = Listing(request.query)
    if listing.problem:
        return await bad_request(request, listing.problem)
    found = await request.config_dict[STORE].delivery_summaries(traffic(request))
    campaigns = sorted({d["campaign"] for d in found if d["campaign"]})
    kept = listing.apply(found)
    return await page(request, "ui_deliveries.html", deliveries=kept[:SHOWN], total=len(kept),
                      shown=SHOWN, listing=listing, columns=COLUMNS, campaigns=campaigns,
                      bots=bots(request))  # fmt: skip


@routes.get("/ui/deliveries.csv")
async def deliveries_csv(request: web.Request) -> web.Response:
    """The list as it is filtered and sorted, every row, as CSV."""
    await require_login(request)
    listing = Listing(request.query)
    if listing.problem:
        return await bad_request(request, listing.problem)
    kept = listing.apply(await request.config_dict[STORE].delivery_summaries(traffic(request)))
    out = io.StringIO()
    writer = csv.writer(out)
    rates = ("delivery", "open", "click", "click_to_open", "unsubscribe")
    writer.writerow(["delivery", "campaign", "email", "date", *COUNTS,
                     *(f"{r}_rate" for r in rates), "last_activity", *TRACKED])  # fmt: skip
    for d in kept:
        writer.writerow([safe_cell(d[k]) for k in ("delivery", "campaign", "email", "date")]
                        + [d[k] for k in COUNTS]
                        + ["" if d["rates"][r] is None else d["rates"][r] for r in rates]
                        + [d["last_activity"] or ""] + [d[k] for k in TRACKED])  # fmt: skip
    return csv_response(out.getvalue(), "deliveries.csv")


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet will not run as a formula (a leading ``'`` is added before
    ``= + - @``, a tab or a carriage return); other values as they are."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def csv_response(text: str, filename: str) -> web.Response:
    """``text`` as a CSV download named ``filename``."""
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={**UI_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@routes.get("/ui/campaigns/{campaign}")
async def campaign(request: web.Request) -> web.Response:
    await require_login(request)
    name = request.match_info["campaign"][:MAX_ID]
    found = await request.config_dict[STORE].delivery_summaries(traffic(request))
    theirs = sorted((d for d in found if d["campaign"] == name),
                    key=lambda d: (d["date"] or "", d["delivery"]))  # fmt: skip
    if not theirs:
        message = f"No delivery of campaign “{name}” is known."
        return await page(request, "ui_problem.html", 404, title="No such campaign",
                          message=message)  # fmt: skip
    return await page(request, "ui_campaign.html", campaign=name, deliveries=theirs,
                      totals=totals(theirs), chart=charts.rate_bars(theirs),
                      bots=bots(request))  # fmt: skip
