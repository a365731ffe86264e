"""The rows the store writes for a group: hits with their events, and the sending
system's events under the rules. Pure: the operations read what they need and insert them.

Each table's rows are a named tuple whose fields are the columns, in order: the same
field list builds the INSERT and UPDATE statements (``Tx.insert``, ``Tx.update``) and
the values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, TypeVar

from tracker.events import EventType, Hit
from tracker.eventtypes import JUDGED_ROUTES
from tracker.ingest import SendEvent
from tracker.rules import dedupe_key
from tracker.store.scoring import Probe, Scoring
from tracker.useragents import read_agent
from tracker.verdicts import Verdict

# The recipient of an open or click in an anonymous campaign.
ANONYMOUS = "anonymous"
K = TypeVar("K", bound=Hashable)


class HitRow(NamedTuple):
    """A row of ``hits``, the raw tracking log."""

    id: int
    at: str
    route: str
    method: str
    outcome: str
    delivery: str
    recipient: str
    campaign: str
    email: str
    link: int | None
    url: str | None
    ip: str | None
    user_agent: str
    verdict: str | None
    reasons: str | None
    client: str | None
    device: str | None


class HitEventRow(NamedTuple):
    """A row of ``events`` that a hit made (Opened, Clicked, Unsubscribed)."""

    type: str
    at: str
    delivery: str
    recipient: str
    campaign: str
    email: str
    link: int | None
    url: str | None
    hit_id: int
    dedupe: str | None
    verdict: str | None


class SendEventRow(NamedTuple):
    """A row of ``events`` that the sending system posted."""

    type: str
    at: str
    delivery: str
    recipient: str
    campaign: str
    email: str
    message: str
    event_id: str
    category: str | None
    reason: str | None
    address: str | None
    flag: str | None
    dedupe: str | None
    status: str | None
    cause: str | None


class ConsentRow(NamedTuple):
    """A row of ``consent`` (a person's current state), and of ``consent_history`` with
    ``recorded_at`` after it."""

    recipient: str
    state: str
    at: str
    source: str
    text: str | None


class ConsentHistoryRow(NamedTuple):
    """A row of ``consent_history``: a change as given, and when it was stored."""

    recipient: str
    state: str
    at: str
    source: str
    text: str | None
    recorded_at: str


class ConsentEventRow(NamedTuple):
    """A row of ``events`` for a consent change: in no delivery, the state it sets, how it
    was given (``cause``: api, page, import) and the wording shown (``reason``)."""

    type: str
    at: str
    delivery: str
    recipient: str
    campaign: str
    email: str
    state: str
    cause: str
    reason: str | None


def consent_event(change: ConsentRow) -> ConsentEventRow:
    """The activity log's event of a consent change."""
    return ConsentEventRow(type=EventType.CONSENT, at=change.at, delivery="",
                           recipient=change.recipient, campaign="", email="",
                           state=change.state, cause=change.source, reason=change.text)  # fmt: skip


class Rejudged(NamedTuple):
    """What rescoring writes back to a stored hit; ``id`` and ``recipient`` find it."""

    id: int
    recipient: str
    verdict: str
    reasons: str
    client: str
    device: str


# A stored hit to judge again: what its verdict depends on, then what rescoring compares
# and rebuilds its events by.
RESCORED = (*Probe._fields, "verdict", "reasons", "campaign", "email")

# A stored GET open whose Opened event is rebuilt (``opened_rows``).
OPEN_HIT = ("id", "at", "delivery", "link", "url", "verdict")


def probes_of(ids: list[int], hits: list[Hit]) -> list[Probe]:
    """The open and click hits, under the ids they will be stored with, to be judged."""
    return [
        Probe(hit_id, hit.at, hit.route, hit.method, hit.message.delivery,
              hit.message.recipient, hit.link, hit.ip, hit.user_agent)
        for hit_id, hit in zip(ids, hits, strict=True)
        if hit.route in JUDGED_ROUTES
    ]  # fmt: skip


def hit_rows(
    ids: list[int],
    hits: list[Hit],
    verdicts: dict[int, tuple[Verdict, str]],
    scoring: Scoring,
    untracked: frozenset[int] = frozenset(),
) -> tuple[list[HitRow], list[HitEventRow]]:
    """The hits' rows and their events' rows.

    A hit of an anonymous campaign, or one of ``untracked`` (ids of hits whose person may
    not be tracked now), is judged with what the request said and kept with nothing that
    names the person. An Opened made by a machine is kept under its own dedupe key: it
    does not use up the recipient's one human Opened.
    """
    rows: list[HitRow] = []
    events: list[HitEventRow] = []
    for hit_id, hit in zip(ids, hits, strict=True):
        m = hit.message
        verdict, reasons = verdicts.get(hit_id, (None, None))
        agent = read_agent(hit.user_agent) if verdict is not None else None
        recipient, ip, user_agent = m.recipient, hit.ip, hit.user_agent
        if verdict is not None and (m.campaign in scoring.anonymous or hit_id in untracked):
            recipient, ip, user_agent = ANONYMOUS, None, ""
        rows.append(
            HitRow(id=hit_id, at=hit.at, route=hit.route, method=hit.method,
                   outcome=hit.outcome, delivery=m.delivery, recipient=recipient,
                   campaign=m.campaign, email=m.email, link=hit.link, url=hit.url, ip=ip,
                   user_agent=user_agent, verdict=verdict, reasons=reasons,
                   client=agent.client if agent else None,
                   device=agent.device if agent else None)
        )  # fmt: skip
        if hit.event is not None:
            machine = verdict is not None and verdict is not Verdict.HUMAN
            key = dedupe_key(hit.event, m.delivery, recipient, m.campaign, m.email,
                             machine=machine)  # fmt: skip
            if recipient == ANONYMOUS:
                key = None  # nobody can be told apart: every open counts
            events.append(
                HitEventRow(type=hit.event, at=hit.at, delivery=m.delivery,
                            recipient=recipient, campaign=m.campaign, email=m.email,
                            link=hit.link, url=hit.url, hit_id=hit_id, dedupe=key,
                            verdict=verdict)
            )  # fmt: skip
    return rows, events


# The columns of a sending system's event that are often NULL (``Dialect.null``).
SEND_NULLABLE = ("category", "reason", "address", "flag", "dedupe", "status", "cause")


def send_rows(
    events: list[SendEvent],
    stored: set[K],
    announced: set[tuple[str, str]],
    id_of: Callable[[SendEvent], K],
    null: Any = None,
) -> tuple[list[str], list[SendEventRow]]:
    """An outcome per event and the rows to insert.

    ``stored``: the ids (``id_of``) already stored; ``announced``: the (delivery,
    message) pairs a stored Sent announced. Both grow with the batch, so a repeat within
    it is a duplicate and a Sent announces the events after it. ``null``: what the rows
    hold for NULL in ``SEND_NULLABLE``.
    """
    outcomes: list[str] = []
    rows: list[SendEventRow] = []
    sent = EventType.SENT
    for e in events:
        key = id_of(e)
        if key in stored:
            outcomes.append("duplicate")
            continue
        stored.add(key)
        flag = null
        if e.type is sent:
            announced.add((e.delivery, e.message))
            outcomes.append("stored")
        elif (e.delivery, e.message) in announced:
            outcomes.append("stored")
        else:
            flag = "unknown_message"
            outcomes.append("stored_unknown_message")
        dedupe = dedupe_key(e.type, e.delivery, e.recipient, e.campaign, e.email, e.message)
        # Positional, in the columns' order (keywords cost a third more a row).
        rows.append(
            SendEventRow(e.type, e.at, e.delivery, e.recipient, e.campaign, e.email, e.message,
                         e.id,
                         null if e.category is None else e.category,
                         null if e.reason is None else e.reason,
                         null if e.address is None else e.address,
                         flag,
                         null if dedupe is None else dedupe,
                         null if e.status is None else e.status,
                         null if e.cause is None else e.cause)
        )  # fmt: skip
    return outcomes, rows


def opened_rows(
    hits: Sequence[Sequence[Any]], recipient: str, campaign: str, email: str
) -> list[HitEventRow]:
    """The Opened events of one person's stored open hits, rebuilt in the order given.

    ``hits``: ``(id, at, delivery, link, url, verdict)`` of each GET open (``OPEN_HIT``).
    """
    return [
        HitEventRow(type=EventType.OPENED, at=at, delivery=delivery, recipient=recipient,
                    campaign=campaign, email=email, link=link, url=url, hit_id=hit_id,
                    dedupe=dedupe_key(EventType.OPENED, delivery, recipient, campaign, email,
                                      machine=verdict != Verdict.HUMAN),
                    verdict=verdict)
        for hit_id, at, delivery, link, url, verdict in hits
    ]  # fmt: skip


def rejudged(probe: Probe, verdict: str, reasons: str) -> Rejudged:
    """A stored hit's new verdict, with its mail client and device read again."""
    agent = read_agent(probe.user_agent)
    return Rejudged(id=probe.id, recipient=probe.recipient, verdict=verdict, reasons=reasons,
                    client=agent.client, device=agent.device)  # fmt: skip
