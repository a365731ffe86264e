"""The rows both stores write for a group: hits with their events, and the sending
system's events under the rules. Pure: each store reads what they need and inserts them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

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
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The hits' rows (17 columns) and their events' rows (11 columns).

    A hit of an anonymous campaign is judged with what the request said and kept with
    nothing that names the person. An Opened made by a machine is kept under its own
    dedupe key: it does not use up the recipient's one human Opened.
    """
    rows = []
    events = []
    for hit_id, hit in zip(ids, hits, strict=True):
        m = hit.message
        verdict, reasons = verdicts.get(hit_id, (None, None))
        agent = read_agent(hit.user_agent) if verdict is not None else None
        recipient, ip, user_agent = m.recipient, hit.ip, hit.user_agent
        if verdict is not None and m.campaign in scoring.anonymous:
            recipient, ip, user_agent = ANONYMOUS, None, ""
        rows.append(
            (hit_id, hit.at, hit.route, hit.method, hit.outcome, m.delivery, recipient,
             m.campaign, m.email, hit.link, hit.url, ip, user_agent, verdict, reasons,
             agent.client if agent else None, agent.device if agent else None)
        )  # fmt: skip
        if hit.event is not None:
            machine = verdict is not None and verdict is not Verdict.HUMAN
            key = dedupe_key(hit.event, m.delivery, recipient, m.campaign, m.email,
                             machine=machine)  # fmt: skip
            if recipient == ANONYMOUS:
                key = None  # nobody can be told apart: every open counts
            events.append(
                (hit.event, hit.at, m.delivery, recipient, m.campaign, m.email, hit.link,
                 hit.url, hit_id, key, verdict)
            )  # fmt: skip
    return rows, events


def send_rows(
    events: list[SendEvent],
    stored: set[K],
    announced: set[tuple[str, str]],
    id_of: Callable[[SendEvent], K],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """An outcome per event and the rows to insert (13 columns, the sender's id 8th).

    ``stored``: the ids (``id_of``) already stored; ``announced``: the (delivery,
    message) pairs a stored Sent announced. Both grow with the batch, so a repeat within
    it is a duplicate and a Sent announces the events after it.
    """
    outcomes = [""] * len(events)
    rows: list[tuple[Any, ...]] = []
    for i, e in enumerate(events):
        if id_of(e) in stored:
            outcomes[i] = "duplicate"
            continue
        stored.add(id_of(e))
        flag = None
        if e.type is EventType.SENT:
            announced.add((e.delivery, e.message))
        elif (e.delivery, e.message) not in announced:
            flag = "unknown_message"
        outcomes[i] = "stored_unknown_message" if flag else "stored"
        key = dedupe_key(e.type, e.delivery, e.recipient, e.campaign, e.email, e.message)
        rows.append(
            (e.type, e.at, e.delivery, e.recipient, e.campaign, e.email, e.message, e.id,
             e.category, e.reason, e.address, flag, key)
        )  # fmt: skip
    return outcomes, rows
