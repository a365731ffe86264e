"""The geometry of the dashboard's charts, drawn as inline SVG by its templates.

Horizontal positions are percentages of the chart's width and vertical ones pixels, so a
chart fills any width (360 px to print) without scaling its text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.ui_format import parse

PLOT_HEIGHT = 200
MOST_HOURS = 72  # a span up to three days is drawn by the hour, a longer one by the day
FEWEST = {False: 12, True: 7}  # at least 12 hours, or a week, on the axis
LABELS = 6


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 × 10ⁿ, times 4, at least ``value`` (4 grid steps)."""
    if value <= 0:
        return 4
    step = value / 4
    scale = 10 ** len(str(int(step))) / 10 if step >= 1 else 1.0
    if step < 1:
        while scale / 10 >= step:
            scale /= 10
    for factor in (1, 2, 2.5, 5, 10):
        if factor * scale >= step:
            return factor * scale * 4
    return scale * 40


def _buckets(first: datetime, last: datetime, days: bool) -> list[datetime]:
    """Every hour (or day) from ``first``'s to ``last``'s, and after, up to ``FEWEST``."""
    if days:
        first = first.replace(hour=0)
        last = last.replace(hour=0)
    step = timedelta(days=1) if days else timedelta(hours=1)
    out: list[datetime] = []
    at = first
    while at <= last or len(out) < FEWEST[days]:
        out.append(at)
        at += step
    return out


def _label(at: datetime, days: bool) -> str:
    return f"{at.day} {at:%b}" if days else f"{at.day} {at:%b} {at:%H}:00"


def timeline(hours: list[dict[str, Any]]) -> dict[str, Any]:
    """Opens and clicks per hour, or per day when the span is over three days (UTC), every
    bucket between the first and the last drawn (empty ones too, and at least 12 hours or
    7 days: one hour of data is a narrow bar, not the whole width), with the cumulative
    opens on a scale of their own."""
    parsed = [(parse(h["hour"]), h) for h in hours]
    known = [(at.astimezone(UTC), h) for at, h in parsed if at is not None]
    if not known:
        return {"buckets": []}
    first, last = known[0][0], known[-1][0]
    days = last - first > timedelta(hours=MOST_HOURS)
    starts = _buckets(first, last, days)
    index = {at: i for i, at in enumerate(starts)}
    counts = [{"opened": 0, "clicks": 0} for _ in starts]
    for at, h in known:
        key = at.replace(hour=0) if days else at
        counts[index[key]]["opened"] += int(h["opened"])
        counts[index[key]]["clicks"] += int(h["clicks"])
    top = nice_top(max(max(c["opened"], c["clicks"]) for c in counts))
    total = sum(c["opened"] for c in counts)
    right = nice_top(total)
    slot = 100 / len(starts)
    buckets, running = [], 0
    for i, (at, c) in enumerate(zip(starts, counts, strict=True)):
        running += c["opened"]
        buckets.append({
            "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "label": _label(at, days),
            "opened": c["opened"], "clicks": c["clicks"], "cumulative": running,
            "x": round(i * slot + slot * 0.1, 3), "w": round(slot * 0.4, 3),
            "mid": round(i * slot + slot / 2, 3),
            "opened_h": round(c["opened"] / top * PLOT_HEIGHT, 1),
            "clicks_h": round(c["clicks"] / top * PLOT_HEIGHT, 1),
            "cumulative_y": round(PLOT_HEIGHT - running / right * PLOT_HEIGHT, 1),
        })  # fmt: skip
    every = max(1, -(-len(buckets) // LABELS))
    ticks = [{"y": round(PLOT_HEIGHT - k / 4 * PLOT_HEIGHT, 1), "left": _number(top * k / 4),
              "right": _number(right * k / 4)} for k in range(5)]  # fmt: skip
    return {
        "buckets": buckets,
        "unit": "day" if days else "hour",
        "height": PLOT_HEIGHT,
        "ticks": ticks,
        "labels": [b for i, b in enumerate(buckets) if i % every == 0],
        "total_opened": total,
        "total_clicks": sum(c["clicks"] for c in counts),
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def client_bars(clients: list[dict[str, Any]], most: int = 12) -> list[dict[str, Any]]:
    """Opens and clicks per mail client and device: each row's bars as a share (in %) of
    the busiest row's opens plus clicks."""
    shown = clients[:most]
    top = max((c["opened"] + c["clicks"] for c in shown), default=0) or 1
    return [
        {
            "label": f"{c['client']} ({c['device']})",
            "opened": c["opened"],
            "clicks": c["clicks"],
            "opened_w": round(c["opened"] / top * 100, 2),
            "clicks_w": round(c["clicks"] / top * 100, 2),
            "y": i * 44,
        }
        for i, c in enumerate(shown)
    ]


def rate_bars(deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """Open and click rates of a campaign's deliveries side by side, on one scale (the
    highest rate rounded up to ten per cent), so they compare at a glance."""
    rates = [d["rates"][k] or 0 for d in deliveries for k in ("open", "click")]
    scale = max(0.1, -(-max(rates, default=0) * 10 // 1) / 10)
    rows = []
    for i, d in enumerate(deliveries):
        open_rate, click_rate = d["rates"]["open"] or 0, d["rates"]["click"] or 0
        rows.append({"delivery": d["delivery"], "open": d["rates"]["open"],
                     "click": d["rates"]["click"], "y": i * 58,
                     "open_w": round(open_rate / scale * 100, 2),
                     "click_w": round(click_rate / scale * 100, 2)})  # fmt: skip
    return {"rows": rows, "scale": scale, "height": len(rows) * 58}


def consent_mix(counts: dict[str, int]) -> list[dict[str, Any]]:
    """A delivery's recipients by consent state (granted, denied, unknown): each state's
    count, its share of them all, and its bar's width in % of the whole."""
    total = sum(counts.values())
    return [
        {"state": state, "n": counts[state], "share": counts[state] / total if total else None,
         "w": round(counts[state] / total * 100, 2) if total else 0}
        for state in ("granted", "denied", "unknown")
    ]  # fmt: skip
