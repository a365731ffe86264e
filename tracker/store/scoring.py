"""Verdicts from a hit's context, whatever the store: what to read, and the decision.

A store reads, inside the writer's transaction, the Sent and Delivered times of the
probes' (delivery, recipient) pairs and their stored clicks near the probes' times (see
``Windows``), then calls ``decide``. A new hit can also reveal older ones: the first
click of a burst, or the clicks just before a honeypot click; ``decide`` names those
stored clicks, and the store turns them to ``bot`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from tracker.config import Settings
from tracker.events import Route, iso
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Context, Judge, Verdict, judge_for

Pair = tuple[str, str]  # (delivery, recipient)


class Probe(NamedTuple):
    """The fields of a hit that its verdict depends on."""

    id: int
    at: str
    route: str
    method: str
    delivery: str
    recipient: str
    link: int | None
    ip: str | None
    user_agent: str


@dataclass(frozen=True)
class Scoring:
    """The judge, the windows of the context signals, and the campaigns kept anonymous."""

    judge: Judge
    proximity_seconds: float = 2.0
    honeypot_seconds: float = 30.0
    anonymous: frozenset[str] = frozenset()

    @classmethod
    def for_settings(cls, settings: Settings) -> Scoring:
        return cls(
            judge_for(settings),
            settings.proximity_seconds,
            settings.honeypot_seconds,
            frozenset(settings.anonymous_campaigns),
        )


@dataclass
class Neighbour:
    id: int
    seconds: float
    link: int | None
    verdict: str | None
    reasons: str


@dataclass
class Scored:
    """Verdicts of the probes, and stored clicks they turn to bot (id -> reasons)."""

    verdicts: list[tuple[Verdict, str]]
    flipped: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Windows:
    """What a store must read for a group of probes.

    ``sends``: whether Sent and Delivered times are needed. ``clicks``: the GET click
    probes whose stored neighbours are read: every click within ``window`` seconds and
    honeypot clicks within ``trap_window`` (None: not read). ``traps``: honeypot click
    probes, around which every click within ``trap_window`` is read too.
    """

    sends: bool
    clicks: list[Probe]
    window: float
    trap_window: float | None
    traps: list[Probe]

    @classmethod
    def of(cls, probes: list[Probe], scoring: Scoring) -> Windows:
        on = scoring.judge.signals
        clicks = [p for p in probes if p.route == Route.CLICK and p.method == "GET"]
        if not ("proximity" in on or "honeypot" in on):
            clicks = []
        window = scoring.proximity_seconds if "proximity" in on else 0.0
        trap_window = scoring.honeypot_seconds if "honeypot" in on else None
        traps = [p for p in clicks if p.link == HONEYPOT_LINK] if trap_window is not None else []
        return cls("after_send" in on, clicks, window, trap_window, traps)


def seconds(at: str) -> float:
    """Seconds since the epoch of a stored ISO time."""
    return datetime.fromisoformat(at).timestamp()


def iso_shift(at: str, by: float) -> str:
    moment = datetime.fromisoformat(at)
    return iso(datetime.fromtimestamp(moment.timestamp() + by, moment.tzinfo))


def span(probes: list[Probe], window: float) -> tuple[str, str]:
    """The times a read of neighbours within ``window`` of the probes must cover."""
    first, last = min(p.at for p in probes), max(p.at for p in probes)
    return iso_shift(first, -window - 1), iso_shift(last, window + 1)


def merge(into: dict[Pair, list[Neighbour]], more: dict[Pair, list[Neighbour]]) -> None:
    for key, neighbours in more.items():
        have = {n.id for n in into.get(key, [])}
        into.setdefault(key, []).extend(n for n in neighbours if n.id not in have)


def decide(
    probes: list[Probe],
    scoring: Scoring,
    sends: dict[Pair, list[str]],
    stored: dict[Pair, list[Neighbour]],
) -> Scored:
    """Verdicts for ``probes`` (in id order) from what the store read for them."""
    judge = scoring.judge
    on = judge.signals
    clicks = [p for p in probes if p.route == Route.CLICK and p.method == "GET"]
    click_ids = {p.id for p in clicks}
    # The probes' own clicks are neighbours too (when new, they are not stored yet).
    pending: dict[Pair, list[Neighbour]] = {}
    probe_ids = {p.id for p in probes}
    for p in clicks:
        pending.setdefault((p.delivery, p.recipient), []).append(
            Neighbour(p.id, seconds(p.at), p.link, None, "")
        )
    result = Scored([])
    for p in probes:
        key = (p.delivery, p.recipient)
        at = seconds(p.at)
        since = None
        for sent_at in sends.get(key, ()):
            sent = seconds(sent_at)
            if sent <= at:
                since = at - sent
        proximity = honeypot = False
        if p.id in click_ids:
            others = pending.get(key, []) + [
                n for n in stored.get(key, []) if n.id not in probe_ids
            ]
            for n in others:
                if n.id == p.id:
                    continue
                gap = abs(n.seconds - at)
                if gap <= scoring.proximity_seconds and n.link != p.link and "proximity" in on:
                    proximity = True
                    _flip(result, n, probe_ids, "proximity")
                if p.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds and "honeypot" in on:
                    _flip(result, n, probe_ids, "honeypot")
                if n.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds:
                    honeypot = True
            honeypot = honeypot or p.link == HONEYPOT_LINK
        context = Context(since, proximity, honeypot)
        result.verdicts.append(judge.judge(p.route, p.method, p.ip, p.user_agent, context))
    return result


def _flip(result: Scored, n: Neighbour, probe_ids: set[int], reason: str) -> None:
    """Turn a stored click to bot (probes get theirs from their own context)."""
    if n.id in probe_ids or n.verdict == Verdict.BOT and reason in n.reasons.split(","):
        return
    reasons = [r for r in n.reasons.split(",") if r]
    already = result.flipped.get(n.id)
    if already is not None:
        reasons = already.split(",")
    if reason not in reasons:
        reasons.append(reason)
    result.flipped[n.id] = ",".join(reasons)
