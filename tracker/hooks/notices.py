"""Each provider's webhook payload read into neutral notices, one per recipient and event.

A notice says what happened (``delivered``, ``bounce``, ``complaint``, or ``ignored`` for
an event tracker does not log), to which address, under which provider ids, with the
bounce's status, diagnostic and the provider's own bounce type (a hint for the
classifier), and the tracker token the provider echoed back, if any.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tracker.tokens import is_utf8

# The name under which decorate's token travels in each provider's metadata.
ECHO_FIELD = "tracker_message"
# The header decorate adds, which SES returns among the original headers.
ECHO_HEADER = "X-Tracker-Message"

DELIVERED = "delivered"
BOUNCE = "bounce"
COMPLAINT = "complaint"
IGNORED = "ignored"


class BadPayload(ValueError):
    """A payload that is not the provider's shape; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One provider event for one recipient address."""

    provider: str
    event_id: str
    kind: str
    event: str
    address: str = ""
    message_id: str = ""
    token: str = ""
    at: str | None = None
    status: str | None = None
    reply: str | None = None
    hint: str | None = None
    # The provider's own judgement of a bounce: True permanent, False temporary.
    permanent: bool | None = None


def _text(value: Any) -> str:
    """A string field, or "" for anything else and for text no database can hold (a NUL,
    a lone surrogate)."""
    if not isinstance(value, str) or "\x00" in value or not is_utf8(value):
        return ""
    return value


def _epoch(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload(f"{what}: must be a JSON object")
    return value


# Amazon SES (the Message of an SNS notification) -------------------------------------


def ses(message_id: str, text: str) -> list[Notice]:
    """An SES notification (``notificationType``) or event record (``eventType``)."""
    try:
        body = _object(json.loads(text), "Message")
    except (ValueError, RecursionError):
        raise BadPayload("Message: not an SES notification (JSON)") from None
    kind = _text(body.get("notificationType") or body.get("eventType"))
    mail = _dict(body.get("mail"))
    headers = _list(mail.get("headers"))
    token = next(
        (
            _text(h.get("value"))
            for h in headers
            if isinstance(h, dict) and _text(h.get("name")).lower() == ECHO_HEADER.lower()
        ),
        "",
    )
    ses_notice = partial(Notice, "ses", message_id=_text(mail.get("messageId")), token=token)
    if kind == "Delivery":
        part = _object(body.get("delivery"), "delivery")
        return [
            ses_notice(event_id=f"{message_id}:{address}", kind=DELIVERED, event=kind,
                       address=address, at=_text(part.get("timestamp")) or None)
            for address in _list(part.get("recipients")) if isinstance(address, str)
        ]  # fmt: skip
    if kind == "Bounce":
        part = _object(body.get("bounce"), "bounce")
        hint = _text(part.get("bounceType"))
        return [
            ses_notice(event_id=f"{message_id}:{r['emailAddress']}", kind=BOUNCE, event=kind,
                       address=r["emailAddress"], at=_text(part.get("timestamp")) or None,
                       status=_text(r.get("status")) or None,
                       reply=_text(r.get("diagnosticCode")) or None, hint=hint,
                       permanent={"Permanent": True, "Transient": False}.get(hint))
            for r in _list(part.get("bouncedRecipients"))
            if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
        ]  # fmt: skip
    if kind == "Complaint":
        part = _object(body.get("complaint"), "complaint")
        return [
            ses_notice(event_id=f"{message_id}:{r['emailAddress']}", kind=COMPLAINT,
                       event=kind, address=r["emailAddress"],
                       at=_text(part.get("timestamp")) or None)
            for r in _list(part.get("complainedRecipients"))
            if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
        ]  # fmt: skip
    return [ses_notice(event_id=message_id, kind=IGNORED, event=kind[:40] or "?")]


# SendGrid Event Webhook ---------------------------------------------------------------

_SENDGRID_KINDS = {"delivered": DELIVERED, "bounce": BOUNCE, "dropped": BOUNCE,
                   "spamreport": COMPLAINT}  # fmt: skip


def sendgrid(body: Any) -> Iterator[Notice]:
    """A JSON list of SendGrid events; ``deferred`` (still being retried) is no bounce."""
    if not isinstance(body, list):
        raise BadPayload("The body must be a JSON list of SendGrid events.")
    for item in body:
        item = _object(item, "event")
        event = _text(item.get("event"))
        kind = _SENDGRID_KINDS.get(event, IGNORED)
        hint = _text(item.get("type")) or event if kind == BOUNCE else None
        yield Notice(
            provider="sendgrid",
            event_id=_text(item.get("sg_event_id")),
            kind=kind,
            event=event[:40] or "?",
            address=_text(item.get("email")),
            message_id=_text(item.get("sg_message_id")),
            token=_text(item.get(ECHO_FIELD)),
            at=_epoch(item.get("timestamp")),
            status=_text(item.get("status")) or None,
            reply=_text(item.get("reason")) or None,
            hint=hint,
            # "blocked" is SendGrid's word for a temporary refusal.
            permanent=None if hint is None else hint != "blocked",
        )


# Mailgun webhooks (JSON: signature and event-data) ------------------------------------

_MAILGUN_KINDS = {"delivered": DELIVERED, "failed": BOUNCE, "complained": COMPLAINT}


def _mailgun_token(data: dict[str, Any]) -> str:
    variables = data.get("user-variables")
    if isinstance(variables, dict):
        return _text(variables.get(ECHO_FIELD))
    return ""


def mailgun(body: Any) -> Notice:
    """The ``event-data`` of one Mailgun webhook."""
    data = _object(_object(body, "body").get("event-data"), "event-data")
    event = _text(data.get("event"))
    kind = _MAILGUN_KINDS.get(event, IGNORED)
    status = _dict(data.get("delivery-status"))
    headers = _dict(_dict(data.get("message")).get("headers"))
    severity = _text(data.get("severity"))
    code = status.get("code")
    words = _text(status.get("message")) or _text(status.get("description"))
    reply = f"{code} {words}".strip() if isinstance(code, int) else words
    return Notice(
        provider="mailgun",
        event_id=_text(data.get("id")),
        kind=kind,
        event=event[:40] or "?",
        address=_text(data.get("recipient")),
        message_id=_text(headers.get("message-id")),
        token=_mailgun_token(data),
        at=_epoch(data.get("timestamp")),
        status=_text(status.get("enhanced-code")) or _text(status.get("bounce-code")) or None,
        reply=reply or None,
        hint=severity or None if kind == BOUNCE else None,
        permanent={"permanent": True, "temporary": False}.get(severity),
    )


# Postmark webhooks ----------------------------------------------------------------------

# Bounce records that report no failed delivery (Postmark's bounce types).
_POSTMARK_NOT_BOUNCES = {"Subscribe", "Unsubscribe", "AutoResponder", "AddressChange",
                         "ChallengeVerification", "OpenRelayTest"}  # fmt: skip
_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "Blocked", "SpamNotification",
                  "DMARCPolicy", "ManuallyDeactivated", "VirusNotification"}  # fmt: skip


def postmark(body: Any) -> Notice:
    """One Postmark webhook record (``RecordType`` Delivery, Bounce or SpamComplaint)."""
    record = _object(body, "body")
    kind_name = _text(record.get("RecordType"))
    bounce_type = _text(record.get("Type"))
    message_id = _text(record.get("MessageID"))
    token = _text(_dict(record.get("Metadata")).get(ECHO_FIELD))
    common = partial(Notice, "postmark", message_id=message_id, token=token)
    if kind_name == "Delivery":
        address = _text(record.get("Recipient"))
        return common(event_id=f"delivery:{message_id}:{address}", kind=DELIVERED,
                      event=kind_name, address=address,
                      at=_text(record.get("DeliveredAt")) or None)  # fmt: skip
    if kind_name in ("Bounce", "SpamComplaint"):
        complaint = kind_name == "SpamComplaint" or bounce_type == "SpamComplaint"
        kind = COMPLAINT if complaint else BOUNCE
        if bounce_type in _POSTMARK_NOT_BOUNCES:
            kind = IGNORED
        return common(
            event_id=str(record.get("ID") or f"{message_id}:{bounce_type}"),
            kind=kind,
            event=f"{kind_name}/{bounce_type}"[:40],
            address=_text(record.get("Email")),
            at=_text(record.get("BouncedAt")) or None,
            reply=_text(record.get("Details")) or _text(record.get("Description")) or None,
            hint=bounce_type or None if kind == BOUNCE else None,
            permanent=bounce_type in _POSTMARK_HARD if kind == BOUNCE else None,
        )
    return common(event_id=message_id, kind=IGNORED, event=kind_name[:40] or "?")
