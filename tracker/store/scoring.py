"""Verdicts from a hit's context, whatever the store: what to read, and the decision.

A store reads, inside the writer's transaction, the Sent and Delivered times of the
probes' (delivery, recipient) pairs and their stored clicks near the probes' times (see
``Windows``), then calls ``decide``. A new hit can also reveal older ones: the first
click of a burst, or the clicks just before a honeypot click; ``decide`` names those
stored clicks, and the store turns them to ``bot`` in the same transaction.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from tracker.config import Settings
from tracker.consent import Policy, parse_overrides, reads_states
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
    """The judge, the windows of the context signals, the campaigns kept anonymous, and
    the consent policy (``consent_campaigns``: the campaigns' own, overriding it)."""

    judge: Judge
    proximity_seconds: float = 2.0
    honeypot_seconds: float = 30.0
    anonymous: frozenset[str] = frozenset()
    consent: Policy = Policy.OFF
    consent_campaigns: tuple[tuple[str, Policy], ...] = ()

    @classmethod
    def for_settings(cls, settings: Settings) -> Scoring:
        return cls(
            judge_for(settings),
            settings.proximity_seconds,
            settings.honeypot_seconds,
            frozenset(settings.anonymous_campaigns),
            Policy(settings.consent),
            tuple(parse_overrides(settings.consent_campaigns).items()),
        )

    @property
    def reads_consent(self) -> bool:
        """Whether any hit's campaign is held to a policy that reads people's states."""
        return reads_states(self.consent, dict(self.consent_campaigns))


@dataclass
class Neighbour:
    id: int
    seconds: float
    link: int | None
    verdict: str | None
    reasons: str


def stored_click(
    hit_id: int, at: str, link: int | None, verdict: str | None, reasons: str | None
) -> Neighbour:
    """A stored click as the verdicts read it, from its row's columns."""
    return Neighbour(hit_id, seconds(at), link, verdict, reasons or "")


def bot_for(n: Neighbour, reason: str) -> bool:
    """Whether a stored click is already bot for ``reason``: no probe turns it again."""
    return n.verdict == Verdict.BOT and reason in n.reasons.split(",")


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
    """Seconds since the epoch of a stored ISO time (``iso``'s shape read by hand, the
    same float as ``datetime.fromisoformat(at).timestamp()``, a few times faster)."""
    if len(at) != 27 or at[26] != "Z" or at[19] != ".":
        return datetime.fromisoformat(at).timestamp()
    whole = _day(at[:10]) + int(at[11:13]) * 3600 + int(at[14:16]) * 60 + int(at[17:19])
    return (whole * 10**6 + int(at[20:26])) / 10**6


@lru_cache(maxsize=64)
def _day(date: str) -> int:
    """Seconds from the epoch to the start of ``date`` (UTC)."""
    return (datetime.fromisoformat(date).toordinal() - _EPOCH_DAY) * 86400


_EPOCH_DAY = datetime(1970, 1, 1).toordinal()


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


class _Timeline:
    """One (delivery, recipient)'s clicks by time, for questions about a window.

    ``others``: whether a window holds a click on another link, in O(log n) however many
    clicks it holds (a pasted link clicked thousands of times is one run of one link).
    ``flippable``: the stored clicks a probe may turn to bot for ``reason``, skipping
    those already turned for it and runs of the probe's own link.
    """

    __slots__ = ("clicks", "traps", "open")

    def __init__(self, neighbours: list[Neighbour]) -> None:
        self.clicks = _ByTime(neighbours)
        self.traps = [n.seconds for n in self.clicks.found if n.link == HONEYPOT_LINK]
        self.open: dict[str, _ByTime] = {}

    def others(self, at: float, window: float, link: int | None) -> bool:
        first, last = _within(self.clicks.times, at, window)
        if first > last:
            return False
        return not (self.clicks.links[first] == link and self.clicks.run_end[first] >= last)

    def trap_near(self, at: float, window: float) -> bool:
        first, last = _within(self.traps, at, window)
        return first <= last

    def keep_open(self, reason: str, stored: list[Neighbour]) -> None:
        """Note the stored clicks not yet turned to bot for ``reason``."""
        self.open[reason] = _ByTime([n for n in stored if not bot_for(n, reason)])

    def flippable(
        self, reason: str, at: float, window: float, link: int | None, any_link: bool
    ) -> list[Neighbour]:
        """The open stored clicks within ``window`` of ``at`` (on another link than
        ``link`` unless ``any_link``)."""
        open_ = self.open[reason]
        first, last = _within(open_.times, at, window)
        picked = []
        i = first
        while i <= last:
            if not any_link and open_.links[i] == link:
                i = open_.run_end[i] + 1
                continue
            picked.append(open_.found[i])
            i += 1
        return picked


class _ByTime:
    """Clicks sorted by time, with each one's link and where its run of one link ends."""

    __slots__ = ("found", "times", "links", "run_end")

    def __init__(self, neighbours: list[Neighbour]) -> None:
        self.found = sorted(neighbours, key=lambda n: n.seconds)
        self.times = [n.seconds for n in self.found]
        self.links = [n.link for n in self.found]
        self.run_end = _runs(self.links)


def _runs(links: list[int | None]) -> list[int]:
    """For each position, the last position of the run of equal links it starts or is in."""
    ends = [0] * len(links)
    for i in range(len(links) - 1, -1, -1):
        ends[i] = ends[i + 1] if i + 1 < len(links) and links[i + 1] == links[i] else i
    return ends


def _within(times: list[float], at: float, window: float) -> tuple[int, int]:
    """The first and last positions whose time is within ``window`` of ``at``, by the same
    ``abs(t - at) <= window`` test as one click against another (first > last: none)."""
    slack = window + 1e-3
    first = bisect_left(times, at - slack)
    last = bisect_right(times, at + slack) - 1
    while first <= last and abs(times[first] - at) > window:
        first += 1
    while last >= first and abs(times[last] - at) > window:
        last -= 1
    return first, last


def decide(
    probes: list[Probe],
    scoring: Scoring,
    sends: dict[Pair, list[str]],
    stored: dict[Pair, list[Neighbour]],
) -> Scored:
    """Verdicts for ``probes`` (in id order) from what the store read for them.

    A GET click is near another when a click on another link of the same message and
    person lies within the proximity window (then those stored clicks turn to bot), and
    near a trap when a honeypot click lies within the honeypot window (a honeypot click
    turns every stored click in its window to bot). Each question is a search in the
    pair's clicks by time, so its cost does not grow with how often the link is clicked.
    """
    judge = scoring.judge
    on = judge.signals
    proximity_on, honeypot_on = "proximity" in on, "honeypot" in on
    clicks = [p for p in probes if p.route == Route.CLICK and p.method == "GET"]
    click_ids = {p.id for p in clicks}
    probe_ids = {p.id for p in probes}
    # The probes' own clicks are neighbours too (when new, they are not stored yet).
    pending: dict[Pair, list[Neighbour]] = {}
    for p in clicks:
        pending.setdefault((p.delivery, p.recipient), []).append(
            Neighbour(p.id, seconds(p.at), p.link, None, "")
        )
    # A pair with many clicks is searched by time; a small one (most of them: one new
    # click, a stored click or two) is compared click by click, cheaper than sorting.
    timelines: dict[Pair, _Timeline] = {}
    small: dict[Pair, list[Neighbour]] = {}
    for key, mine in pending.items():
        others = [n for n in stored.get(key, []) if n.id not in probe_ids]
        if len(mine) + len(others) <= SMALL_PAIR:
            small[key] = mine + others
            continue
        timeline = _Timeline(mine + others)
        if proximity_on:
            timeline.keep_open("proximity", others)
        if honeypot_on:
            timeline.keep_open("honeypot", others)
        timelines[key] = timeline
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
        if p.id in click_ids and key in small:
            proximity, honeypot = _one_by_one(p, at, small[key], scoring, result, probe_ids)
        elif p.id in click_ids:
            timeline = timelines[key]
            if proximity_on and timeline.others(at, scoring.proximity_seconds, p.link):
                proximity = True
                for n in timeline.flippable("proximity", at, scoring.proximity_seconds, p.link,
                                            any_link=False):  # fmt: skip
                    _flip(result, n, probe_ids, "proximity")
            if p.link == HONEYPOT_LINK and honeypot_on:
                for n in timeline.flippable("honeypot", at, scoring.honeypot_seconds, p.link,
                                            any_link=True):  # fmt: skip
                    _flip(result, n, probe_ids, "honeypot")
            honeypot = p.link == HONEYPOT_LINK or timeline.trap_near(at, scoring.honeypot_seconds)
        context = Context(since, proximity, honeypot)
        result.verdicts.append(judge.judge(p.route, p.method, p.ip, p.user_agent, context))
    return result


SMALL_PAIR = 8  # clicks of a pair (new and stored) compared one by one


def _one_by_one(
    p: Probe,
    at: float,
    neighbours: list[Neighbour],
    scoring: Scoring,
    result: Scored,
    probe_ids: set[int],
) -> tuple[bool, bool]:
    """Proximity and honeypot for ``p`` against each of its pair's few clicks, turning the
    stored ones it reveals: the rule as written, for small pairs."""
    on = scoring.judge.signals
    proximity = honeypot = False
    for n in neighbours:
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
    return proximity, honeypot or p.link == HONEYPOT_LINK


def _flip(result: Scored, n: Neighbour, probe_ids: set[int], reason: str) -> None:
    """Turn a stored click to bot (probes get theirs from their own context)."""
    if n.id in probe_ids or bot_for(n, reason):
        return
    reasons = [r for r in n.reasons.split(",") if r]
    already = result.flipped.get(n.id)
    if already is not None:
        reasons = already.split(",")
    if reason not in reasons:
        reasons.append(reason)
    result.flipped[n.id] = ",".join(reasons)
