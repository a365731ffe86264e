"""Pure rules of the activity log: which events count once."""

from __future__ import annotations

from tracker.events import EventType

_SEP = "\x1f"


def dedupe_key(
    event: EventType, delivery: str, recipient: str, campaign: str, email: str
) -> str | None:
    """The key under which only one event of this kind is kept; None when all are kept.

    Opened counts once per (email, recipient, campaign), across deliveries, so the same
    email sent twice to one person by one campaign gives one Opened. Unsubscribed is a
    change of the person's state: it counts once per recipient. Clicked counts every time.
    """
    if event is EventType.OPENED:
        return _SEP.join(("opened", email, recipient, campaign))
    if event is EventType.UNSUBSCRIBED:
        return _SEP.join(("unsubscribed", recipient))
    return None
