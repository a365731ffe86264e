"""Event kinds, and the hit: one request to a tracking route as it will be stored."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tracker.tokens import Message

# Untrusted header values are cropped to these lengths before they are stored.
MAX_USER_AGENT = 512


class EventType(enum.StrEnum):
    """The activity log's event types, as the contract names them in the API."""

    SENT = "sent"
    DELIVERED = "delivered"
    HARD_BOUNCED = "hard_bounced"
    SOFT_BOUNCED = "soft_bounced"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    # A change of the person's tracking consent (tracker.consent), in no delivery.
    CONSENT = "consent"


class Route(enum.StrEnum):
    """The tracking route a hit came in on."""

    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(slots=True)
class Hit:
    """One verified request to a tracking route: a row of the raw tracking log.

    ``event`` is the activity-log event the hit makes (None for a HEAD, a GET of the
    unsubscribe form, …); the store applies the dedupe rule to it. Not frozen: one is
    built per request, and a frozen dataclass's ``__init__`` costs four times as much.
    """

    route: Route
    method: str
    outcome: str
    at: str
    message: Message
    ip: str | None
    user_agent: str
    event: EventType | None = None
    link: int | None = None
    url: str | None = None
    # The browser asked not to be tracked (Sec-GPC or DNT, with TRACKER_HONOUR_GPC=on).
    untracked: bool = False


def crop(value: str | None, limit: int) -> str:
    """An untrusted header cut to ``limit`` characters, with lone surrogates replaced."""
    if not value:
        return ""
    if len(value) <= limit and value.isascii():
        return value  # the common case, and nothing to replace
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


class _Clock:
    """``iso_now`` for the hot path: the date and time part is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


iso_now = _Clock()
"""The current time as the ISO 8601 UTC string used everywhere in storage and the API."""


def iso(moment: datetime) -> str:
    """``2026-11-22T23:00:00.123456Z``: sortable as text, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
