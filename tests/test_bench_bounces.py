"""bench.bounces posts real-shaped bounces: each names its own person, none repeats."""

from __future__ import annotations

from bench.bounces import corpus, messages
from tracker.bounces.parse import parse


def test_the_bench_messages_are_the_corpus_with_a_person_each() -> None:
    source = corpus()
    bodies, people = messages(2 * len(source), run=0)
    assert len(bodies) == 2 * len(source)
    assert len(set(bodies)) == len(bodies)  # no two are the same bounce
    addresses = {address for _, address in people}
    assert len(addresses) == len(people)
    named = [f.address.lower() for body in bodies for f in parse(body).failures]
    ours = [a for a in named if a in addresses]
    # The parser finds the person the bench wrote in (almost) every failure.
    assert len(ours) >= 0.95 * len(named), (len(ours), len(named))
    assert len(ours) >= 0.95 * len(people), (len(ours), len(people))
