"""tracker.hooks.signatures and the pure parts of tracker.hooks.sns, alone."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.hookkit import MAILGUN_KEY, POSTMARK_CREDENTIALS, SendGridSigner, postmark_auth
from tracker.hooks.signatures import (
    MailgunTokens,
    Refused,
    load_sendgrid_key,
    verify_mailgun,
    verify_postmark,
    verify_sendgrid,
)
from tracker.hooks.sns import allowed, string_to_sign

NOW = 1_700_000_000


def mailgun(timestamp: int | str, token: str = "t" * 50, key: str = MAILGUN_KEY) -> dict[str, str]:
    mac = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": mac}


def test_mailgun_accepts_its_own_signature_within_the_window() -> None:
    assert verify_mailgun(MAILGUN_KEY, mailgun(NOW - 60), NOW) == "t" * 50
    assert verify_mailgun(MAILGUN_KEY, mailgun(NOW + 60), NOW) == "t" * 50


@pytest.mark.parametrize(
    ("signature", "status", "code"),
    [
        (mailgun(NOW, key="another-signing-key-0123456789"), 403, "bad_signature"),
        (mailgun(NOW - 16 * 60), 403, "stale"),
        (mailgun(NOW + 16 * 60), 403, "stale"),
        ({**mailgun(NOW), "token": "u" * 50}, 403, "bad_signature"),
        ({"timestamp": str(NOW), "token": "t"}, 401, "unsigned"),
        (None, 401, "unsigned"),
        ([], 401, "unsigned"),
    ],
    ids=["other key", "old", "future", "other token", "no signature", "none", "a list"],
)
def test_mailgun_refuses(signature: object, status: int, code: str) -> None:
    with pytest.raises(Refused) as refused:
        verify_mailgun(MAILGUN_KEY, signature, NOW)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_mailgun_token_is_good_once_and_a_failed_one_is_given_back() -> None:
    tokens = MailgunTokens()
    assert tokens.take("a", 0.0) and not tokens.take("a", 1.0)
    tokens.give_back("a")
    assert tokens.take("a", 2.0)


def test_sendgrid_keys_and_signatures() -> None:
    signer = SendGridSigner()
    key = load_sendgrid_key(signer.public)
    assert key is not None
    body = b'[{"event":"delivered"}]'
    headers = signer.headers(body, "1600112502")
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    verify_sendgrid(key, signature, "1600112502", body)
    with pytest.raises(Refused, match="does not verify"):
        verify_sendgrid(key, signature, "1600112503", body)  # the timestamp is signed too
    with pytest.raises(Refused) as missing:
        verify_sendgrid(key, None, "1600112502", body)
    assert missing.value.status == 401
    assert load_sendgrid_key("not base64!") is None
    assert load_sendgrid_key("bm90IGEga2V5") is None  # base64, but no key


def test_postmark_basic_auth() -> None:
    verify_postmark(POSTMARK_CREDENTIALS, postmark_auth()["Authorization"])
    for header, status in ((None, 401), ("Bearer x", 401), ("Basic !!", 403),
                           (postmark_auth("postmark:wrong")["Authorization"], 403)):  # fmt: skip
        with pytest.raises(Refused) as refused:
            verify_postmark(POSTMARK_CREDENTIALS, header)
        assert refused.value.status == status


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com:8443/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
        ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://localhost:8443/x.pem", True),
        ("https://localhost:99999/x.pem", False),
        (None, False),
    ],
)
def test_only_https_sns_hosts_or_listed_ones_are_allowed(url: object, ok: bool) -> None:
    assert allowed(url, ("localhost:8443",)) is ok


def test_the_string_to_sign_lists_the_documented_fields_in_order() -> None:
    # The example of the SNS developer guide ("Verifying the signatures of Amazon SNS
    # messages"): Message, MessageId, Subject, Timestamp, TopicArn, Type.
    message = {
        "Type": "Notification", "Message": "My Test Message", "Subject": "My subject",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "Timestamp": "2019-01-31T04:37:04.321Z", "SignatureVersion": "1",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
    }  # fmt: skip
    assert string_to_sign(message) == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\nTimestamp\n2019-01-31T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    without = {k: v for k, v in message.items() if k != "Subject"}
    assert b"Subject" not in string_to_sign(without)
