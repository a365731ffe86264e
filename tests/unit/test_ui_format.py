"""tracker.ui_format alone: times as <time> elements read in UTC, days, rates."""

from __future__ import annotations

from tracker.ui_format import day, percent, when


def test_a_time_reads_in_utc_with_its_exact_value_kept() -> None:
    value = "2026-11-30T10:34:23.165949Z"
    assert str(when(value)) == (
        f'<time datetime="{value}" title="{value}">30 Nov 2026, 10:34 UTC</time>'
    )
    assert str(when("2026-11-05T23:30:00+01:00")).endswith(">5 Nov 2026, 22:30 UTC</time>")
    assert str(day("2026-11-05T23:30:00Z")).endswith(" data-day>5 Nov 2026</time>")


def test_no_time_is_a_dash_and_a_stray_value_stays_text() -> None:
    assert str(when(None)) == "–" and str(day("")) == "–"
    assert str(when("<b>soon</b>")) == "&lt;b&gt;soon&lt;/b&gt;"


def test_rates_read_in_per_cent_and_none_is_a_dash() -> None:
    assert percent(0.4444) == "44.4 %" and percent(0) == "0.0 %" and percent(None) == "–"
