"""Notices into tracker events under the seed rules, through the same validation and store
path as ``POST /api/v1/events``.

Which message: the token decorate gave (echoed back in the provider's metadata or, for
SES, the returned headers), else the Sent event whose ``message`` is the provider's
message id, else the latest Sent event to the address. A bounce's type and category come
from the bounce classifier, with the provider's own type only as a hint; a result says
``disagrees`` (the provider's type) when the provider judged it the other way. A
complaint is an Unsubscribed with cause ``complaint``, as a complaint report
(``POST /api/v1/bounces``) is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.bounces.classify import HARD, classify, enhanced_status
from tracker.bounces.intake import COMPLAINT as COMPLAINT_CAUSE
from tracker.events import EventType, iso
from tracker.hooks.notices import BOUNCE, COMPLAINT, DELIVERED, IGNORED, Notice
from tracker.ingest import BadItem, SendEvent, parse_item
from tracker.metrics import HOOK_EVENTS
from tracker.store.base import Store
from tracker.tokens import MAX_ID_LENGTH, BadToken, Message, Tokens


@dataclass(frozen=True, slots=True)
class Found:
    """The message a notice is about, and how it was found."""

    message: Message
    name: str
    by: str


async def find(store: Store, tokens: Tokens, notice: Notice) -> Found | None:
    """The message of ``notice``: by echoed token, provider message id, or address."""
    if notice.token:
        try:
            message = tokens.read_bounce(notice.token)
        except BadToken:
            message = None
        if message is not None:
            return Found(message, message.recipient, "token")
    row = await store.sent_message(notice.message_id) if notice.message_id else None
    if row is None and notice.address:
        row = await store.sent_to(notice.address)
    if row is None:
        return None
    message = Message(row["delivery"], row["recipient"], row["campaign"], row["email"])
    bare = notice.message_id.strip().strip("<>")
    by = "message_id" if bare and row["message"].strip("<>") == bare else "address"
    return Found(message, row["message"], by)


def event_id(notice: Notice) -> str:
    """``provider:id``, hashed when longer than an id may be (an address can be 320)."""
    raw = f"{notice.provider}:{notice.event_id}"
    if len(raw) <= MAX_ID_LENGTH:
        return raw
    return f"{notice.provider}:sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def _item(notice: Notice, found: Found, result: dict[str, Any]) -> dict[str, Any]:
    m = found.message
    item: dict[str, Any] = {
        "id": event_id(notice), "delivery": m.delivery, "recipient": m.recipient,
        "campaign": m.campaign, "email": m.email, "message": found.name,
        "address": notice.address or None, "at": notice.at,
    }  # fmt: skip
    if notice.kind == DELIVERED:
        item["type"] = "delivered"
    elif notice.kind == BOUNCE:
        judged = classify(notice.status, notice.reply, notice.hint)
        hard = judged.type == HARD
        item.update(type=judged.type, category=judged.category, reason=notice.reply)
        result.update(category=judged.category, reason=judged.reason)
        if notice.permanent is not None and notice.permanent != hard:
            result["disagrees"] = notice.hint
    return item


def _complaint(notice: Notice, found: Found, at: str) -> SendEvent:
    """The complaint as the person's Unsubscribed (one per person, by the dedupe rule)."""
    m = found.message
    return SendEvent(
        id=event_id(notice), type=EventType.UNSUBSCRIBED, at=at, delivery=m.delivery,
        recipient=m.recipient, message=found.name, campaign=m.campaign, email=m.email,
        address=notice.address or None, cause=COMPLAINT_CAUSE,
    )  # fmt: skip


async def take(
    store: Store, tokens: Tokens, notices: list[Notice], now: datetime
) -> dict[str, Any]:
    """Store what ``notices`` report; ``{results, counts}`` with one result per notice."""
    results: list[dict[str, Any]] = []
    events: list[tuple[dict[str, Any], SendEvent]] = []
    now_text = iso(now)
    for notice in notices:
        result: dict[str, Any] = {"id": event_id(notice), "event": notice.event}
        results.append(result)
        if notice.kind == IGNORED or not notice.event_id:
            result["status"] = "ignored"
            continue
        found = await find(store, tokens, notice)
        if found is None:
            result.update(status="unmatched", recipient=None)
            continue
        result.update(recipient=found.message.recipient, delivery=found.message.delivery,
                      matched_by=found.by)  # fmt: skip
        try:
            if notice.kind == COMPLAINT:
                at = parse_item({**_item(notice, found, result), "type": "sent"}, now).at
                result.update(type="unsubscribed", cause=COMPLAINT_CAUSE)
                events.append((result, _complaint(notice, found, at)))
            else:
                event = parse_item(_item(notice, found, result), now, now_text)
                # The provider's enhanced code (only a code: 5.1.1), where it gives one.
                event.status = enhanced_status(notice.status) or event.status
                event.disagrees = None  # the hook's own dissent is in its result
                result["type"] = event.type.value
                events.append((result, event))
        except BadItem as exc:
            result.update(status="invalid", error=str(exc))
    if events:
        outcomes = await store.record_events([event for _, event in events])
        for (result, _), outcome in zip(events, outcomes, strict=True):
            result["status"] = outcome
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        HOOK_EVENTS.labels(notices[0].provider, result["status"]).inc()
    return {"results": results, "counts": counts}
