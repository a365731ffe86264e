"""Pure rules of the activity log: which events count once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.events import EventType
from tracker.eventtypes import SPAM_BLOCK, SPAM_BLOCK_CATEGORY

_SEP = "\x1f"


def dedupe_key(
    event: EventType,
    delivery: str,
    recipient: str,
    campaign: str,
    email: str,
    message: str = "",
    *,
    machine: bool = False,
) -> str | None:
    """The key under which only one event of this kind is kept; None when all are kept.

    Opened counts once per (email, recipient, campaign), across deliveries, so the same
    email sent twice to one person by one campaign gives one Opened. Unsubscribed is a
    change of the person's state: it counts once per recipient. Delivered counts once per
    message (a delivery's copy for one recipient). Clicked and Sent count every time.
    """
    if event is EventType.OPENED:
        # A machine's open (a proxy, a scanner) has its own key: a person's open after it
        # is still their Opened.
        kind = "opened-machine" if machine else "opened"
        return _SEP.join((kind, email, recipient, campaign))
    if event is EventType.UNSUBSCRIBED:
        return _SEP.join(("unsubscribed", recipient))
    if event is EventType.DELIVERED:
        return _SEP.join(("delivered", delivery, message or recipient))
    return None


@dataclass(frozen=True, slots=True)
class Mailability:
    """May this person be mailed now; if not, why and until when (None: for good)."""

    mailable: bool
    reason: str | None = None
    until: datetime | None = None


def mailability(suppressions: list[tuple[str, datetime, str | None]], now: datetime) -> Mailability:
    """Apply the bounce and unsubscribe rules to a person's (type, at, category) events.

    Unsubscribed and a hard bounce for an invalid mailbox stop all mail for good; a hard
    bounce for a spam block stops every campaign for 24 h from the bounce. Soft bounces
    leave the person mailable: only that message is retried.
    """
    blocked_until: datetime | None = None
    for kind, at, category in suppressions:
        if kind == EventType.UNSUBSCRIBED:
            return Mailability(False, "unsubscribed")
        if kind == EventType.HARD_BOUNCED and category != SPAM_BLOCK_CATEGORY:
            return Mailability(False, "invalid")
        if kind == EventType.HARD_BOUNCED and at + SPAM_BLOCK > now:
            blocked_until = max(blocked_until or at, at + SPAM_BLOCK)
    if blocked_until is not None:
        return Mailability(False, SPAM_BLOCK_CATEGORY, blocked_until)
    return Mailability(True)
