"""tracker.ingest alone: each item of a sending-system batch checked on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tracker.events import EventType
from tracker.ingest import MAX_REASON, BadItem, SendEvent, parse_item, parse_time

NOW = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def item(**fields: Any) -> dict[str, Any]:
    return {"id": "ev-1", "type": "delivered", "delivery": "d1", "recipient": "alice", **fields}


def test_a_minimal_item_takes_now_and_the_recipient_as_its_message() -> None:
    assert parse_item(item(), NOW) == SendEvent(
        id="ev-1",
        type=EventType.DELIVERED,
        at="2026-11-22T23:00:00.000000Z",
        delivery="d1",
        recipient="alice",
        message="alice",
        campaign="",
        email="",
    )


def test_every_field_is_kept() -> None:
    fields = {
        "type": "hard_bounced",
        "message": "m1",
        "campaign": "c",
        "email": "e",
        "address": "a@b.example",
        "category": "spam_block",
        "reason": "550 blocked\r\nby policy",
        "at": "2026-11-22T21:00:00+01:00",
    }
    event = parse_item(item(**fields), NOW)
    assert event.type is EventType.HARD_BOUNCED
    assert (event.message, event.campaign, event.email) == ("m1", "c", "e")
    assert (event.address, event.category) == ("a@b.example", "spam_block")
    assert event.reason == "550 blocked by policy"
    assert event.at == "2026-11-22T20:00:00.000000Z"


def test_a_hard_bounce_without_category_or_reason_is_a_spam_block_never_invalid() -> None:
    event = parse_item(item(type="hard_bounced"), NOW)
    assert (event.category, event.disagrees) == ("spam_block", None)
    with pytest.raises(BadItem, match="category: a hard bounce is one of invalid, spam_block"):
        parse_item(item(type="hard_bounced", category="full"), NOW)


@pytest.mark.parametrize(
    ("reason", "category", "status"),
    [
        ("550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "invalid", "5.1.1"),
        ("550 5.7.1 blocked by spam filter", "spam_block", "5.7.1"),
        # Judged soft by the words: a hard bounce still stops 24 h, never for good.
        ("552 5.2.2 mailbox full", "spam_block", "5.2.2"),
        ("something nobody wrote before", "spam_block", None),
    ],
)
def test_a_hard_bounce_without_category_is_classified_from_its_reason(
    reason: str, category: str, status: str | None
) -> None:
    event = parse_item(item(type="hard_bounced", reason=reason), NOW)
    assert (event.category, event.status, event.disagrees) == (category, status, None)


def test_the_senders_category_stands_and_a_disagreement_is_reported() -> None:
    spam = parse_item(
        item(type="hard_bounced", category="invalid", reason="550 5.7.1 blocked as spam"), NOW
    )
    assert (spam.category, spam.disagrees) == ("invalid", "spam_block")
    full = parse_item(item(type="hard_bounced", category="invalid", reason="452 4.2.2 full"), NOW)
    assert (full.category, full.disagrees) == ("invalid", "soft_bounced")
    agreed = parse_item(
        item(type="hard_bounced", category="invalid", reason="550 5.1.1 user unknown"), NOW
    )
    assert agreed.disagrees is None
    soft = parse_item(item(type="soft_bounced", reason="550 5.1.1 user unknown"), NOW)
    assert (soft.category, soft.disagrees) == (None, "invalid")
    assert parse_item(item(type="soft_bounced", reason="452 4.2.2 full"), NOW).disagrees is None


def test_a_long_reason_is_cut_and_controls_become_spaces() -> None:
    reason = parse_item(item(reason="x\x00y" + "z" * 2 * MAX_REASON), NOW).reason
    assert reason is not None and reason.startswith("x y") and len(reason) == MAX_REASON
    assert parse_item(item(reason=" \r\n "), NOW).reason is None
    with pytest.raises(BadItem, match="reason: must be a string"):
        parse_item(item(reason=5), NOW)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([], "item: must be an object"),
        (item(type="opened"), "type: must be one of"),
        (item(type=None), "type: must be one of"),
        (item(id=""), "id: required"),
        (item(recipient=None), "recipient: required"),
        (item(delivery=7), "delivery: must be a string"),
        (item(delivery="d" * 1000), "delivery: must be a string of at most"),
        (item(campaign="tab\there"), "campaign: must be printable UTF-8 text"),
        (item(email="\udc80"), "email: must be printable UTF-8 text"),
        (item(address="a" * 321), "address: must be a string of at most 320"),
    ],
)
def test_a_bad_item_names_its_field(bad: Any, message: str) -> None:
    with pytest.raises(BadItem, match=message):
        parse_item(bad, NOW)


def test_times_need_a_zone_and_may_not_be_from_the_future() -> None:
    assert parse_time(None, NOW) == "2026-11-22T23:00:00.000000Z"
    assert parse_time(None, NOW, "given") == "given"
    late = NOW + timedelta(minutes=4)
    assert parse_time(late.isoformat(), NOW) == "2026-11-22T23:04:00.000000Z"
    for value, message in [
        ("2026-11-22T23:00:00", "needs a time zone"),
        ("yesterday", "not an ISO 8601 time"),
        (1700000000, "must be an ISO 8601 time string"),
        ((NOW + timedelta(minutes=6)).isoformat(), "is in the future"),
    ]:
        with pytest.raises(BadItem, match=message):
            parse_time(value, NOW)
