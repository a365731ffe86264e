"""One raw bounce or complaint in, its results out, each stored as an event.

The API (``POST /api/v1/bounces``), the SMTP listener and ``tracker bounces`` call
``take`` with the store and the token keys; nothing here needs a request.

A failed recipient is matched to the message it bounced by, in order: the signed token
of the envelope recipient (``b-<token>@bounce domain``) or of the returned message's
``X-Tracker-Message``; the ``Message-ID`` of a Sent event; the latest Sent event to the
failed address. What none of them match is answered (``stored: false``, ``recipient:
null``) and stored nowhere. Each result is stored once, by the message's own id and the
recipient, so the same message taken twice logs once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracker.bounces.classify import classify
from tracker.bounces.parse import Failure, Report, parse
from tracker.bounces.verp import token_of
from tracker.events import EventType, iso
from tracker.ingest import MAX_ADDRESS, MAX_REASON, SendEvent
from tracker.store.base import Store
from tracker.tokens import MAX_ID_LENGTH, BadToken, Message, Tokens

COMPLAINT = "complaint"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Match:
    """The message a failure bounced: its ids, and its ``message`` as Sent named it."""

    delivery: str
    recipient: str
    campaign: str
    email: str
    message: str


@dataclass(frozen=True)
class Intake:
    """What one message reported, as ``POST /api/v1/bounces`` answers it."""

    kind: str
    results: list[dict[str, Any]]

    def answer(self) -> dict[str, Any]:
        return {"kind": self.kind, "results": self.results}


def _read_token(tokens: Tokens, token: str | None) -> Match | None:
    if not token:
        return None
    try:
        m: Message = tokens.read_bounce(token)
    except BadToken:
        return None
    return Match(m.delivery, m.recipient, m.campaign, m.email, m.recipient)


def _from_row(row: dict[str, Any] | None) -> Match | None:
    if row is None:
        return None
    return Match(row["delivery"], row["recipient"], row["campaign"], row["email"], row["message"])


async def _match(
    store: Store, tokens: Tokens, report: Report, failure: Failure, envelope: str | None
) -> Match | None:
    # A token names one recipient: it stands for the failure only when there is one.
    if len(report.failures) == 1:
        for token in (token_of(envelope), report.token):
            found = _read_token(tokens, token)
            if found is not None:
                return found
    if report.message_id and len(report.message_id) <= MAX_ID_LENGTH:
        found = _from_row(await store.sent_message(report.message_id))
        if found is not None:
            return found
    if len(failure.address) <= MAX_ADDRESS:
        return _from_row(await store.sent_to(failure.address))
    return None


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    cleaned = _CONTROLS.sub(" ", text[:MAX_REASON]).strip()
    return cleaned.encode("utf-8", "replace").decode("utf-8") or None


def _own_id(report: Report, raw: bytes) -> str:
    """The bounce's own id: its Message-ID, else a digest of its bytes."""
    if report.own_id and len(report.own_id) <= 200:
        return report.own_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _result(
    report: Report, failure: Failure
) -> tuple[dict[str, Any], EventType | None, str | None]:
    """The answer for one failure, the event type it logs and its cause."""
    base: dict[str, Any] = {
        "address": failure.address,
        "status": failure.status,
        "reply": _clean(failure.reply),
    }
    if report.kind == "arf":
        complaint = report.feedback_type == "abuse"
        base.update(
            type="complained" if complaint else None,
            category=None,
            reason=report.feedback_type,
        )
        return base, (EventType.UNSUBSCRIBED if complaint else None), COMPLAINT
    judged = classify(failure.status, failure.reply)
    kind = EventType.HARD_BOUNCED if judged.type == "hard_bounced" else EventType.SOFT_BOUNCED
    base.update(type=judged.type, category=judged.category, reason=judged.reason)
    return base, kind, None


async def take(
    store: Store,
    tokens: Tokens,
    raw: bytes,
    envelope: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Intake:
    """Read ``raw``, match and judge each failed recipient, store them unless ``dry_run``.

    Raises ``tracker.bounces.parse.Unreadable`` for bytes that are no message at all.
    """
    report = parse(raw)
    at = iso(now or datetime.now(UTC))
    own = _own_id(report, raw)
    results: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], SendEvent]] = []
    for failure in report.failures:
        result, kind, cause = _result(report, failure)
        match = await _match(store, tokens, report, failure, envelope)
        result.update(
            delivery=match.delivery if match else None,
            recipient=match.recipient if match else None,
            stored=False,
        )
        results.append(result)
        if match is None or kind is None or dry_run:
            continue
        event_id = f"{'complaint' if cause else 'bounce'}:{own}:{failure.address}"
        if len(event_id) > MAX_ID_LENGTH:
            event_id = "bounce:sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        pending.append(
            (
                result,
                SendEvent(
                    id=event_id,
                    type=kind,
                    at=at,
                    delivery=match.delivery,
                    recipient=match.recipient,
                    message=match.message,
                    campaign=match.campaign,
                    email=match.email,
                    address=failure.address[:MAX_ADDRESS],
                    category=result["category"],
                    reason=result["reply"],
                    status=failure.status,
                    cause=cause,
                ),
            )
        )
    if pending:
        outcomes = await store.record_events([event for _, event in pending])
        for (result, _), outcome in zip(pending, outcomes, strict=True):
            result["stored"] = outcome.startswith("stored")
            if outcome == "duplicate":
                result["duplicate"] = True
    return Intake(report.kind, results)
