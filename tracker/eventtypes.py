"""What each event type means, in one place: the store, the rules, the API, the CLI and
the dashboard read it from here (SQL lists included, through ``sql_list``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from tracker.events import EventType, Route

SUPPRESSING: tuple[EventType, ...] = (EventType.UNSUBSCRIBED, EventType.HARD_BOUNCED)
"""Types that stop mail to the person (``tracker.rules.mailability`` says for how long).
Both stores index them (``events_suppress``) and keep them when a person is forgotten."""

SPAM_BLOCK_CATEGORY = "spam_block"
SPAM_BLOCK = timedelta(hours=24)
"""A hard bounce of this category stops every campaign this long from the bounce; any
other hard bounce (``HARD_CATEGORIES``) and an Unsubscribed stop mail for good."""

HARD_CATEGORIES = ("invalid", SPAM_BLOCK_CATEGORY)

SEND_TYPES: tuple[EventType, ...] = (
    EventType.SENT,
    EventType.DELIVERED,
    EventType.HARD_BOUNCED,
    EventType.SOFT_BOUNCED,
)
"""Types the sending system posts to ``/api/events``."""

SEND_TIMES: tuple[EventType, ...] = (EventType.SENT, EventType.DELIVERED)
"""Types whose times the verdicts read (a hit soon after the send is a machine's)."""

ROUTE_TYPES: dict[str, EventType] = {
    Route.OPEN: EventType.OPENED,
    Route.CLICK: EventType.CLICKED,
    Route.UNSUBSCRIBE: EventType.UNSUBSCRIBED,
}
"""The event a hit of each tracking route makes."""

TYPE_ROUTES: dict[str, Route] = {t: Route(r) for r, t in ROUTE_TYPES.items()}

HIT_TYPES: tuple[EventType, ...] = tuple(ROUTE_TYPES.values())
"""Types that come from hits: the activity the logs API and the dashboard filter by."""

JUDGED_ROUTES: tuple[Route, ...] = (Route.OPEN, Route.CLICK)
"""Routes whose hits get a verdict (human, machine_open, bot)."""

JUDGED_TYPES: tuple[EventType, ...] = tuple(ROUTE_TYPES[r] for r in JUDGED_ROUTES)
"""Types that carry their hit's verdict."""

FIGURES: tuple[tuple[str, str], ...] = (
    ("Sent", "sent"),
    ("Delivered", "delivered"),
    ("Hard bounced", "hard_bounced"),
    ("Soft bounced", "soft_bounced"),
    ("Opened", "opened"),
    ("Clicks", "clicks"),
    ("Unique clickers", "unique_clickers"),
    ("Unsubscribed", "unsubscribed"),
)
"""The counts a campaign report shows, as (label, key of the report's ``counts``)."""


def sql_list(values: Iterable[str]) -> str:
    """``'a', 'b'``: the values as an SQL ``IN`` list (they are constants, never input)."""
    return ", ".join(f"'{v}'" for v in values)


def names(types: Iterable[str]) -> str:
    """``a, b``: the types as a message lists them."""
    return ", ".join(types)


SUPPRESSING_SQL = sql_list(SUPPRESSING)
SEND_TIMES_SQL = sql_list(SEND_TIMES)
JUDGED_ROUTES_SQL = sql_list(JUDGED_ROUTES)
JUDGED_TYPES_SQL = sql_list(JUDGED_TYPES)
