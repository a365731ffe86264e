"""Delivery events from the sending system: validated item by item.

A batch is a JSON list of ``{id, type, delivery, recipient, message?, email?, campaign?,
address?, category?, reason?, at?}``. Each item is checked on its own, so one bad item is
reported by its index and id while the good ones are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.bounces.classify import classify, enhanced_status
from tracker.events import EventType, iso
from tracker.eventtypes import HARD_CATEGORIES, SEND_TYPES, SPAM_BLOCK_CATEGORY, names
from tracker.tokens import MAX_ID_LENGTH, is_utf8

_SEND_TYPES_BY_NAME = {t.value: t for t in SEND_TYPES}
_BOUNCES = frozenset((EventType.HARD_BOUNCED, EventType.SOFT_BOUNCED))
# The fields whose presence sends an item through the field-by-field checks.
_OPTIONAL = frozenset(("at", "address", "category", "reason"))
MAX_REASON = 1000
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
MAX_ADDRESS = 320
# A report may be late, but not from the future: clocks differ by a little at most.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class BadItem(ValueError):
    """An item of a batch that cannot be stored; the message says which field and why."""


@dataclass(slots=True)
class SendEvent:
    """One validated event reported by the sending system.

    Not frozen: a batch builds thousands, and a frozen ``__init__`` costs four times as much.
    """

    id: str
    type: EventType
    at: str
    delivery: str
    recipient: str
    message: str
    campaign: str
    email: str
    address: str | None = None
    category: str | None = None
    reason: str | None = None
    status: str | None = None
    cause: str | None = None
    # Not stored: the classifier's judgement where it differs from the sender's category.
    disagrees: str | None = None


def _text(item: dict[str, Any], key: str, required: bool, limit: int = MAX_ID_LENGTH) -> str:
    value = item.get(key)
    # The common case first: printable ASCII of a length that fits.
    if type(value) is str and value.isascii() and 0 < len(value) <= limit and value.isprintable():
        return value
    if value is None or value == "":
        if required:
            raise BadItem(f"{key}: required")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadItem(f"{key}: must be a string of at most {limit} characters")
    if not value.isprintable() or not value.isascii() and not is_utf8(value):
        raise BadItem(f"{key}: must be printable UTF-8 text")
    return value


def _reason(item: dict[str, Any]) -> str | None:
    """A bounce's text as the receiving server wrote it: lines joined, controls removed."""
    value = item.get("reason")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadItem("reason: must be a string")
    cleaned = _CONTROLS.sub(" ", value[:MAX_REASON]).strip()
    return cleaned.encode("utf-8", "replace").decode("utf-8") or None


def parse_time(value: Any, now: datetime, now_text: str = "") -> str:
    """An ISO 8601 time with a zone (``2026-11-22T23:00:00Z``) as stored; ``now`` if absent."""
    if value is None:
        return now_text or iso(now)
    if not isinstance(value, str) or len(value) > 40:
        raise BadItem("at: must be an ISO 8601 time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadItem("at: not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadItem("at: needs a time zone (e.g. Z for UTC)")
    if moment.astimezone(UTC) > now + MAX_CLOCK_SKEW:
        raise BadItem("at: is in the future")
    return iso(moment)


def parse_item(item: Any, now: datetime, now_text: str = "") -> SendEvent:
    """Validate one item of a batch; raises BadItem naming the field.

    ``now_text`` is ``iso(now)`` computed once for a whole batch.
    """
    if not isinstance(item, dict):
        raise BadItem("item: must be an object")
    kind = item.get("type")
    event_type = _SEND_TYPES_BY_NAME.get(kind) if isinstance(kind, str) else None
    if event_type is None:
        raise BadItem(f"type: must be one of {names(SEND_TYPES)}")
    if _OPTIONAL.isdisjoint(item):
        event = _plain(item, event_type, now_text or iso(now))
        if event is not None:
            return event
    get = item.get
    category = _text(item, "category", False, 32) or None if "category" in item else None
    if event_type is EventType.HARD_BOUNCED and category not in (None, *HARD_CATEGORIES):
        raise BadItem(f"category: a hard bounce is one of {names(HARD_CATEGORIES)}")
    reason = _reason(item) if "reason" in item else None
    status = None
    disagrees = None
    if event_type in _BOUNCES:
        category, status, disagrees = _judge(event_type, category, reason)
    recipient = _text(item, "recipient", True)
    # Positional, in the fields' order: keywords cost a third more for thousands a batch.
    return SendEvent(
        _text(item, "id", True),
        event_type,
        parse_time(get("at"), now, now_text),
        _text(item, "delivery", True),
        recipient,
        # One message per recipient and delivery unless the sender names its messages.
        (_text(item, "message", False) if "message" in item else "") or recipient,
        _text(item, "campaign", False) if "campaign" in item else "",
        _text(item, "email", False) if "email" in item else "",
        _text(item, "address", False, MAX_ADDRESS) or None if "address" in item else None,
        category,
        reason,
        status,
        None,
        disagrees,
    )


def _plain(item: dict[str, Any], event_type: EventType, now_text: str) -> SendEvent | None:
    """The common item, checked at once: no time, address, category or reason, and ids
    that are printable ASCII of lengths that fit (what ``_text`` accepts unchanged).
    None when it is not so simple: ``parse_item`` then checks field by field."""
    get = item.get
    id_, delivery, recipient = get("id"), get("delivery"), get("recipient")
    message, campaign, email = get("message", ""), get("campaign", ""), get("email", "")
    if not (
        type(id_) is str
        and type(delivery) is str
        and type(recipient) is str
        and type(message) is str
        and type(campaign) is str
        and type(email) is str
        and 0 < len(id_) <= MAX_ID_LENGTH
        and 0 < len(delivery) <= MAX_ID_LENGTH
        and 0 < len(recipient) <= MAX_ID_LENGTH
        and len(message) <= MAX_ID_LENGTH
        and len(campaign) <= MAX_ID_LENGTH
        and len(email) <= MAX_ID_LENGTH
    ):
        return None
    joined = id_ + delivery + recipient + message + campaign + email
    if not (joined.isascii() and joined.isprintable()):
        return None
    category = SPAM_BLOCK_CATEGORY if event_type is EventType.HARD_BOUNCED else None
    return SendEvent(id_, event_type, now_text, delivery, recipient, message or recipient,
                     campaign, email, None, category, None, None, None, None)  # fmt: skip


def _judge(
    kind: EventType, category: str | None, reason: str | None
) -> tuple[str | None, str | None, str | None]:
    """A bounce's category, its enhanced status code and the classifier's dissent.

    Without a category, a hard bounce takes the classifier's from ``reason`` (a soft or
    unclear judgement gives ``spam_block``: 24 h, never ``invalid`` for good). A given
    category stands; where the reply says otherwise, ``disagrees`` is the classifier's
    category (``soft_bounced`` when it judges the bounce soft).
    """
    judged = classify(reply=reason) if reason else None
    status = enhanced_status(reason)
    known = judged is not None and judged.reason != "unknown"
    if kind is EventType.HARD_BOUNCED and category is None:
        found = judged.category if judged is not None else None
        return found or SPAM_BLOCK_CATEGORY, status, None
    if not known or judged is None:
        return category, status, None
    said = judged.category or judged.type
    given = category if kind is EventType.HARD_BOUNCED else kind.value
    return category, status, (said if said != given else None)
