"""tracker.hooks.notices alone: each provider's documented sample read into notices."""

from __future__ import annotations

import json

import pytest

from tests.hookkit import DATA, sample
from tracker.hooks import notices
from tracker.hooks.notices import BadPayload, Notice


def ses(name: str) -> list[Notice]:
    return notices.ses("sns-1", (DATA / "ses" / name).read_text(encoding="utf-8"))


def test_ses_samples() -> None:
    [bounce] = ses("ses-bounce-with-dsn.json")
    assert (bounce.kind, bounce.address, bounce.status, bounce.hint, bounce.permanent) == (
        "bounce", "jane@example.com", "5.1.1", "Permanent", True,
    )  # fmt: skip
    assert bounce.reply == "smtp; 550 5.1.1 <jane@example.com>... User"
    assert bounce.message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    assert bounce.event_id == "sns-1:jane@example.com"
    assert [n.address for n in ses("ses-bounce-without-dsn.json")] == [
        "jane@example.com", "richard@example.com",
    ]  # fmt: skip
    [complaint] = ses("ses-complaint-without-feedback.json")
    assert (complaint.kind, complaint.address) == ("complaint", "richard@example.com")
    [delivery] = ses("ses-delivery.json")
    assert (delivery.kind, delivery.at) == ("delivered", "2016-01-27T14:59:38.237Z")


def test_the_echoed_token_is_read_from_each_providers_place() -> None:
    mail = json.loads((DATA / "ses" / "ses-delivery.json").read_text(encoding="utf-8"))
    mail["mail"]["headers"].append({"name": "x-tracker-message", "value": "T1"})
    assert notices.ses("m", json.dumps(mail))[0].token == "T1"
    event = {**sample("sendgrid", "sendgrid-delivered.json")[0], "tracker_message": "T2"}
    assert next(notices.sendgrid([event])).token == "T2"
    data = {**sample("mailgun", "mailgun-delivered.json"),
            "user-variables": {"tracker_message": "T3"}}  # fmt: skip
    assert notices.mailgun({"event-data": data}).token == "T3"
    record = sample("postmark", "postmark-bounce.json")
    record["Metadata"]["tracker_message"] = "T4"
    assert notices.postmark(record).token == "T4"


def test_sendgrid_kinds() -> None:
    kinds = [
        (n.event, n.kind) for n in notices.sendgrid(sample("sendgrid", "sendgrid-all-events.json"))
    ]
    assert dict(kinds) == {
        "processed": "ignored", "deferred": "ignored", "delivered": "delivered",
        "open": "ignored", "click": "ignored", "bounce": "bounce", "dropped": "bounce",
        "spamreport": "complaint", "unsubscribe": "ignored", "group_unsubscribe": "ignored",
        "group_resubscribe": "ignored",
    }  # fmt: skip
    [blocked] = notices.sendgrid(sample("sendgrid", "sendgrid-bounce-blocked.json"))
    assert (blocked.hint, blocked.permanent, blocked.at) == (
        "blocked", False, "2017-12-15T00:59:29.000000Z",
    )  # fmt: skip


def test_mailgun_failures_keep_code_and_severity() -> None:
    temporary = notices.mailgun({"event-data": sample("mailgun", "mailgun-failed-temporary.json")})
    assert (temporary.kind, temporary.status, temporary.permanent) == ("bounce", "4.7.652", False)
    assert temporary.reply is not None and temporary.reply.startswith("451 4.7.652")
    suppressed = notices.mailgun({"event-data": sample("mailgun", "mailgun-failed-permanent.json")})
    assert suppressed.reply == "605 Not delivering to previously bounced address"
    opened = notices.mailgun({"event-data": sample("mailgun", "mailgun-opened.json")})
    assert opened.kind == "ignored"


def test_postmark_types() -> None:
    bounce = notices.postmark(sample("postmark", "postmark-bounce.json"))
    assert (bounce.kind, bounce.hint, bounce.permanent, bounce.event_id) == (
        "bounce", "HardBounce", True, "4323372036854775807",
    )  # fmt: skip
    soft = notices.postmark({**sample("postmark", "postmark-bounce.json"), "Type": "SoftBounce"})
    assert soft.permanent is False
    auto = notices.postmark({**sample("postmark", "postmark-bounce.json"), "Type": "AutoResponder"})
    assert auto.kind == "ignored"
    assert notices.postmark(sample("postmark", "postmark-spam-complaint.json")).kind == "complaint"


@pytest.mark.parametrize("body", [None, 1, "x", {"RecordType": "Bounce", "Metadata": []}])
def test_shapes_that_are_not_the_providers(body: object) -> None:
    with pytest.raises(BadPayload):
        list(notices.sendgrid(body)) if not isinstance(body, dict) else notices.mailgun(body)
