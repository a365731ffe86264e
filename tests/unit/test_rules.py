"""tracker.rules alone: which events count once, and who may be mailed now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.events import EventType
from tracker.rules import Mailability, dedupe_key, mailability

NOW = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_an_open_counts_once_per_email_recipient_and_campaign_across_deliveries() -> None:
    first = dedupe_key(EventType.OPENED, "d1", "alice", "autumn", "fall-email")
    again = dedupe_key(EventType.OPENED, "d2", "alice", "autumn", "fall-email")
    assert first is not None and first == again
    assert dedupe_key(EventType.OPENED, "d1", "bob", "autumn", "fall-email") != first
    assert dedupe_key(EventType.OPENED, "d1", "alice", "winter", "fall-email") != first
    assert dedupe_key(EventType.OPENED, "d1", "alice", "autumn", "other-email") != first


def test_a_machine_s_open_does_not_use_up_the_person_s_open() -> None:
    person = dedupe_key(EventType.OPENED, "d1", "alice", "autumn", "e")
    machine = dedupe_key(EventType.OPENED, "d1", "alice", "autumn", "e", machine=True)
    assert machine is not None and person is not None and machine != person
    assert machine == dedupe_key(EventType.OPENED, "d2", "alice", "autumn", "e", machine=True)


def test_unsubscribed_counts_once_per_recipient_delivered_once_per_message() -> None:
    unsubscribed = dedupe_key(EventType.UNSUBSCRIBED, "d1", "alice", "c1", "e1")
    assert unsubscribed == dedupe_key(EventType.UNSUBSCRIBED, "d2", "alice", "c2", "e2")
    assert unsubscribed != dedupe_key(EventType.UNSUBSCRIBED, "d1", "bob", "c1", "e1")
    delivered = dedupe_key(EventType.DELIVERED, "d1", "alice", "c", "e", "m1")
    assert delivered == dedupe_key(EventType.DELIVERED, "d1", "bob", "c", "e", "m1")
    assert delivered != dedupe_key(EventType.DELIVERED, "d1", "alice", "c", "e", "m2")
    assert delivered != dedupe_key(EventType.DELIVERED, "d2", "alice", "c", "e", "m1")
    # Without a message id the recipient names the message.
    assert dedupe_key(EventType.DELIVERED, "d1", "alice", "c", "e") == dedupe_key(
        EventType.DELIVERED, "d1", "x", "c", "e", "alice"
    )


@pytest.mark.parametrize(
    "event",
    [EventType.CLICKED, EventType.SENT, EventType.HARD_BOUNCED, EventType.SOFT_BOUNCED],
)
def test_other_events_count_every_time(event: EventType) -> None:
    assert dedupe_key(event, "d1", "alice", "c", "e", "m") is None


def test_separator_keeps_fields_apart() -> None:
    """Two different (email, recipient) pairs never spell the same key."""
    assert dedupe_key(EventType.OPENED, "d", "b", "c", "a") != dedupe_key(
        EventType.OPENED, "d", "", "c", "a b"
    )
    assert dedupe_key(EventType.OPENED, "d", "x", "c", "ab") != dedupe_key(
        EventType.OPENED, "d", "bx", "c", "a"
    )


def test_nothing_known_is_mailable() -> None:
    assert mailability([], NOW) == Mailability(True)


def test_unsubscribed_and_an_invalid_mailbox_stop_mail_for_good() -> None:
    long_ago = NOW - timedelta(days=400)
    assert mailability([("unsubscribed", long_ago, None)], NOW) == Mailability(
        False, "unsubscribed"
    )
    assert mailability([("hard_bounced", long_ago, "invalid")], NOW) == Mailability(
        False, "invalid"
    )
    # A hard bounce without a category is an invalid mailbox.
    assert mailability([("hard_bounced", long_ago, None)], NOW) == Mailability(False, "invalid")


def test_a_spam_block_stops_mail_for_24_hours_from_the_latest_bounce() -> None:
    earlier, later = NOW - timedelta(hours=20), NOW - timedelta(hours=2)
    blocked = mailability(
        [("hard_bounced", later, "spam_block"), ("hard_bounced", earlier, "spam_block")], NOW
    )
    assert blocked == Mailability(False, "spam_block", later + timedelta(hours=24))
    expired = NOW - timedelta(hours=24)
    assert mailability([("hard_bounced", expired, "spam_block")], NOW) == Mailability(True)


def test_for_good_wins_over_a_spam_block_and_soft_bounces_leave_the_person_mailable() -> None:
    block = ("hard_bounced", NOW - timedelta(hours=1), "spam_block")
    assert mailability([block, ("unsubscribed", NOW, None)], NOW).reason == "unsubscribed"
    assert mailability([("soft_bounced", NOW, None)] * 3, NOW) == Mailability(True)
