"""tracker.store.scoring alone: what a store must read for a group of hits, and the
verdicts decided from it."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference_verdicts import reference_decide
from tracker.config import SIGNALS
from tracker.events import Route, iso
from tracker.netlists import NetMatcher
from tracker.store.scoring import (
    Neighbour,
    Probe,
    Scoring,
    Windows,
    decide,
    iso_shift,
    merge,
    seconds,
    span,
)
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Judge, Verdict

AT = "2026-11-22T23:00:00.000000Z"
MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
PAIR = ("d1", "alice")


def scoring(*signals: str) -> Scoring:
    return Scoring(Judge(signals or SIGNALS, NetMatcher([], 24, 48), 5.0))


def probe(id: int, by: float, route: Route = Route.CLICK, link: int | None = 0) -> Probe:
    at = iso_shift(AT, by)
    return Probe(id, at, route, "GET", "d1", "alice", link, "192.0.2.0", MAIL)


def test_times_shift_and_spans_cover_the_window_around_every_probe() -> None:
    assert iso_shift(AT, 90.5) == "2026-11-22T23:01:30.500000Z"
    assert seconds(iso_shift(AT, -3)) == seconds(AT) - 3
    first, last = span([probe(1, 10), probe(2, 0), probe(3, 4)], 2.0)
    assert (first, last) == (iso_shift(AT, -3), iso_shift(AT, 13))


def test_windows_read_only_what_the_enabled_signals_need() -> None:
    probes = [probe(1, 0, Route.OPEN, None), probe(2, 0), probe(3, 1, link=HONEYPOT_LINK)]
    every = Windows.of(probes, scoring())
    assert every.sends and every.clicks == probes[1:] and every.traps == [probes[2]]
    assert (every.window, every.trap_window) == (2.0, 30.0)
    proximity = Windows.of(probes, scoring("proximity"))
    assert not proximity.sends and proximity.clicks == probes[1:]
    assert (proximity.trap_window, proximity.traps) == (None, [])
    none = Windows.of(probes, scoring("after_send"))
    assert none.sends and none.clicks == [] and none.traps == []


def test_merge_adds_only_neighbours_not_yet_known() -> None:
    into = {PAIR: [Neighbour(1, 0.0, 0, None, "")]}
    merge(into, {PAIR: [Neighbour(1, 0.0, 0, None, ""), Neighbour(2, 1.0, 1, None, "")]})
    merge(into, {("d1", "bob"): [Neighbour(3, 0.0, 0, None, "")]})
    assert [n.id for n in into[PAIR]] == [1, 2] and [n.id for n in into[("d1", "bob")]] == [3]


def test_an_open_right_after_delivery_is_a_machine_s_and_later_a_person_s() -> None:
    probes = [probe(1, 2, Route.OPEN, None), probe(2, 60, Route.OPEN, None)]
    scored = decide(probes, scoring(), {PAIR: [AT]}, {})
    assert scored.verdicts == [(Verdict.MACHINE_OPEN, "after_send"), (Verdict.HUMAN, "")]
    # A send after the hit does not count.
    later = decide([probe(1, 2, Route.OPEN, None)], scoring(), {PAIR: [iso_shift(AT, 10)]}, {})
    assert later.verdicts == [(Verdict.HUMAN, "")]


def test_clicks_on_different_links_within_the_window_are_bots_and_turn_stored_ones() -> None:
    stored = {PAIR: [Neighbour(5, seconds(AT) - 1, 3, "human", "")]}
    scored = decide([probe(6, 0, link=1)], scoring(), {}, stored)
    assert scored.verdicts == [(Verdict.BOT, "proximity")]
    assert scored.flipped == {5: "proximity"}
    # The same link twice, or another link later than the window, is a person's.
    again = decide(
        [probe(1, 0, link=2), probe(2, 1, link=2), probe(3, 10, link=4)], scoring(), {}, {}
    )
    assert again.verdicts == [(Verdict.HUMAN, "")] * 3 and again.flipped == {}


def test_a_honeypot_click_turns_every_click_near_it_to_bot() -> None:
    stored = {PAIR: [Neighbour(5, seconds(AT) - 20, 1, "bot", "after_send")]}
    scored = decide([probe(6, 0, link=HONEYPOT_LINK)], scoring(), {}, stored)
    assert scored.verdicts == [(Verdict.BOT, "honeypot")]
    assert scored.flipped == {5: "after_send,honeypot"}
    # Switched off, nothing is read into a verdict.
    off = decide([probe(6, 0, link=HONEYPOT_LINK)], scoring("method"), {}, stored)
    assert off.verdicts == [(Verdict.HUMAN, "")] and off.flipped == {}


def test_a_click_soon_after_a_honeypot_click_is_a_bot_s() -> None:
    trap = Neighbour(5, seconds(AT) - 10, HONEYPOT_LINK, "bot", "honeypot")
    near = decide([probe(6, 0, link=1)], scoring(), {}, {PAIR: [trap]})
    assert near.verdicts == [(Verdict.BOT, "honeypot")] and near.flipped == {}
    far = decide([probe(6, 40, link=1)], scoring(), {}, {PAIR: [trap]})
    assert far.verdicts == [(Verdict.HUMAN, "")]


LINKS = st.sampled_from([0, 1, 2, HONEYPOT_LINK])
# Times in tenths of a second, so many land exactly on a window's edge.
TENTHS = st.integers(min_value=-400, max_value=400).map(lambda t: t / 10)


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[Probe], dict[tuple[str, str], list[Neighbour]]]:
    """A group of new clicks and opens of two people, and stored clicks around them."""
    people = ["alice", "bob"]
    probes = []
    for i in range(draw(st.integers(1, 12))):
        route = draw(st.sampled_from([Route.CLICK, Route.CLICK, Route.OPEN]))
        at = iso_shift(AT, draw(TENTHS))
        link = draw(LINKS) if route == Route.CLICK else None
        person = draw(st.sampled_from(people))
        probes.append(Probe(1000 + i, at, route, "GET", "d1", person, link, "192.0.2.0", MAIL))
    stored: dict[tuple[str, str], list[Neighbour]] = {}
    for i in range(draw(st.integers(0, 40))):
        verdict = draw(st.sampled_from([None, Verdict.HUMAN, Verdict.BOT]))
        reasons = draw(st.sampled_from(["", "proximity", "honeypot", "proximity,honeypot", "ua"]))
        stored.setdefault(("d1", draw(st.sampled_from(people))), []).append(
            Neighbour(i + 1, seconds(AT) + draw(TENTHS), draw(LINKS), verdict, reasons)
        )
    return probes, stored


@settings(max_examples=400, deadline=None)
@given(
    groups(), st.sampled_from([SIGNALS, ("proximity",), ("honeypot",), ("proximity", "honeypot")])
)
def test_decide_gives_what_every_click_against_every_neighbour_gives(
    group: tuple[list[Probe], dict[tuple[str, str], list[Neighbour]]], signals: tuple[str, ...]
) -> None:
    probes, stored = group
    judged = scoring(*signals)
    sends = {("d1", "alice"): [iso_shift(AT, -30)]}
    fast = decide(probes, judged, sends, stored)
    slow = reference_decide(probes, judged, sends, stored)
    assert fast.verdicts == slow.verdicts
    assert fast.flipped == slow.flipped


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_stored_times_read_as_the_same_seconds_as_the_standard_library(moment: datetime) -> None:
    at = iso(moment.replace(tzinfo=UTC))
    assert seconds(at) == datetime.fromisoformat(at).timestamp()
    assert (
        seconds("2026-11-22T23:00:00+00:00") == datetime(2026, 11, 22, 23, tzinfo=UTC).timestamp()
    )
