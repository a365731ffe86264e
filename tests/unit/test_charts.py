"""tracker.charts alone: the timeline's unit, buckets, scales and labels; the bars."""

from __future__ import annotations

from tracker.charts import client_bars, nice_top, rate_bars, timeline


def hour(day: int, h: int, opened: int = 0, clicks: int = 0) -> dict[str, object]:
    return {"hour": f"2026-11-{day:02d}T{h:02d}:00:00Z", "opened": opened, "clicks": clicks}


def test_one_hour_of_data_is_a_narrow_bar_on_a_twelve_hour_axis() -> None:
    chart = timeline([hour(30, 10, opened=5, clicks=2)])
    assert chart["unit"] == "hour" and len(chart["buckets"]) == 12
    first = chart["buckets"][0]
    assert first["opened"] == 5 and first["clicks"] == 2 and first["w"] < 4
    labels = [b["label"] for b in chart["labels"]]
    assert labels[0] == "30 Nov 10:00" and len(set(labels)) == len(labels) > 1
    assert [t["left"] for t in chart["ticks"]] == ["0", "2", "4", "6", "8"]
    assert chart["buckets"][-1]["cumulative"] == 5


def test_a_span_over_three_days_is_drawn_by_the_day_with_empty_days_and_running_opens() -> None:
    chart = timeline([hour(1, 9, 3, 1), hour(1, 15, 2, 0), hour(5, 8, 1, 4)])
    assert chart["unit"] == "day"
    days = [(b["label"], b["opened"], b["clicks"], b["cumulative"]) for b in chart["buckets"]]
    assert days[:5] == [
        ("1 Nov", 5, 1, 5),
        ("2 Nov", 0, 0, 5),
        ("3 Nov", 0, 0, 5),
        ("4 Nov", 0, 0, 5),
        ("5 Nov", 1, 4, 6),
    ]
    assert len(days) == 7, "at least a week"
    assert chart["total_opened"] == 6 and chart["total_clicks"] == 5
    # Heights against the left scale (top 8 for a busiest bucket of 5), the running opens
    # against their own (top 8 for 6).
    assert chart["buckets"][0]["opened_h"] == 5 / 8 * chart["height"]
    assert chart["buckets"][-1]["cumulative_y"] == chart["height"] - 6 / 8 * chart["height"]


def test_no_data_is_no_chart() -> None:
    assert timeline([]) == {"buckets": []}


def test_scales_end_on_round_numbers() -> None:
    assert [nice_top(v) for v in (0, 3, 5, 9, 41, 99, 1234)] == [4, 4, 8, 10, 80, 100, 2000]


def test_bars_are_shares_of_the_busiest_row_and_rates_share_one_scale() -> None:
    bars = client_bars(
        [
            {"client": "Outlook", "device": "desktop", "opened": 6, "clicks": 2},
            {"client": "Chrome", "device": "mobile", "opened": 0, "clicks": 4},
        ]
    )
    assert [(b["opened_w"], b["clicks_w"]) for b in bars] == [(75.0, 25.0), (0.0, 50.0)]
    assert bars[0]["label"] == "Outlook (desktop)"
    chart = rate_bars(
        [
            {"delivery": "a", "rates": {"open": 0.45, "click": 0.05}},
            {"delivery": "b", "rates": {"open": None, "click": None}},
        ]
    )
    assert chart["scale"] == 0.5
    assert [(r["open_w"], r["click_w"]) for r in chart["rows"]] == [(90.0, 10.0), (0.0, 0.0)]
