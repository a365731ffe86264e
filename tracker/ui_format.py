"""How the dashboard writes times, rates and counts: Jinja filters for its templates.

A time is a ``<time>`` element: the exact UTC value in ``datetime`` and on hover, the text
``30 Nov 2026, 10:34 UTC``; the dashboard's script rewrites the text in the viewer's time
zone (without the script the UTC text stays, still right).
"""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment
from markupsafe import Markup, escape


def parse(value: str) -> datetime | None:
    """A stored time (ISO 8601, ``Z`` or an offset) as an aware datetime; None if not one."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def readable(moment: datetime) -> str:
    """``30 Nov 2026, 10:34`` (in ``moment``'s zone)."""
    return f"{moment.day} {moment:%b %Y, %H:%M}"


def when(value: str | None) -> Markup:
    """A stored time as a ``<time>`` element (an en dash for none)."""
    if not value:
        return Markup("–")
    moment = parse(value)
    if moment is None:
        return Markup(escape(value))
    text = readable(moment.astimezone(UTC)) + " UTC"
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(value, text)


def day(value: str | None) -> Markup:
    """A stored time as its day, ``30 Nov 2026`` (the script: the viewer's day)."""
    if not value:
        return Markup("–")
    moment = parse(value)
    if moment is None:
        return Markup(escape(value))
    text = f"{moment.astimezone(UTC):%d %b %Y}".lstrip("0")
    return Markup('<time datetime="{0}" title="{0}" data-day>{1}</time>').format(value, text)


def percent(value: float | None) -> str:
    """A rate as ``44.4 %`` (an en dash when it has no denominator)."""
    return "–" if value is None else f"{value * 100:.1f} %"


def thousands(value: int) -> str:
    """A count as ``1,234``."""
    return f"{value:,}"


def register(env: Environment) -> None:
    """Add the filters to ``env``."""
    env.filters["when"] = when
    env.filters["day"] = day
    env.filters["percent"] = percent
    env.filters["thousands"] = thousands
