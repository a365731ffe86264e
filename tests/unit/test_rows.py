"""tracker.store.rows alone: the rows a group of hits and of sending-system events makes."""

from __future__ import annotations

from tracker.config import SIGNALS
from tracker.events import EventType, Hit, Route
from tracker.ingest import SendEvent
from tracker.netlists import NetMatcher
from tracker.rules import dedupe_key
from tracker.store.rows import ANONYMOUS, hit_rows, probes_of, send_rows
from tracker.store.scoring import Probe, Scoring
from tracker.tokens import Message
from tracker.verdicts import Judge, Verdict

AT = "2026-11-22T23:00:00.000000Z"
MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
SCORING = Scoring(Judge(SIGNALS, NetMatcher([], 24, 48), 5.0), anonymous=frozenset({"quiet"}))


def hit(
    route: Route,
    event: EventType | None,
    campaign: str = "c",
    method: str = "GET",
    link: int | None = None,
    url: str | None = None,
) -> Hit:
    message = Message("d1", "alice", campaign, "e1")
    return Hit(route, method, "ok", AT, message, "192.0.2.0", MAIL, event, link, url)


def test_only_opens_and_clicks_are_judged_under_their_ids() -> None:
    hits = [
        hit(Route.OPEN, EventType.OPENED),
        hit(Route.UNSUBSCRIBE, EventType.UNSUBSCRIBED, method="POST"),
        hit(Route.CLICK, EventType.CLICKED, link=2, url="https://shop.example/"),
    ]
    probes = probes_of([11, 12, 13], hits)
    assert probes == [
        Probe(11, AT, Route.OPEN, "GET", "d1", "alice", None, "192.0.2.0", MAIL),
        Probe(13, AT, Route.CLICK, "GET", "d1", "alice", 2, "192.0.2.0", MAIL),
    ]


def test_a_hit_s_row_holds_its_verdict_and_client_and_its_event_the_dedupe_key() -> None:
    opened = hit(Route.OPEN, EventType.OPENED)
    rows, events = hit_rows([7], [opened], {7: (Verdict.HUMAN, "")}, SCORING)
    (row,) = rows
    assert row[0] == 7 and "alice" in row and "192.0.2.0" in row and MAIL in row
    assert Verdict.HUMAN in row and "Apple Mail" in row and "desktop" in row
    (event,) = events
    key = dedupe_key(EventType.OPENED, "d1", "alice", "c", "e1")
    assert EventType.OPENED in event and 7 in event and key in event


def test_a_machine_s_open_keeps_its_own_dedupe_key() -> None:
    opened = hit(Route.OPEN, EventType.OPENED)
    _, events = hit_rows([7], [opened], {7: (Verdict.MACHINE_OPEN, "after_send")}, SCORING)
    machine_key = dedupe_key(EventType.OPENED, "d1", "alice", "c", "e1", machine=True)
    assert machine_key in events[0]
    assert dedupe_key(EventType.OPENED, "d1", "alice", "c", "e1") not in events[0]


def test_an_anonymous_campaign_s_hit_names_nobody_and_every_open_counts() -> None:
    opened = hit(Route.OPEN, EventType.OPENED, campaign="quiet")
    rows, events = hit_rows([7], [opened], {7: (Verdict.HUMAN, "")}, SCORING)
    assert ANONYMOUS in rows[0] and "alice" not in rows[0]
    assert "192.0.2.0" not in rows[0] and MAIL not in rows[0]
    assert ANONYMOUS in events[0] and "alice" not in events[0]
    assert not any(isinstance(v, str) and "opened" in v and "\x1f" in v for v in events[0])


def test_a_hit_without_an_event_or_verdict_makes_a_row_only() -> None:
    head = hit(Route.CLICK, None, method="HEAD", link=0, url="https://shop.example/")
    rows, events = hit_rows([3], [head], {}, SCORING)
    assert len(rows) == 1 and events == []
    assert "Apple Mail" not in rows[0]  # not judged: no client read


def send(id: str, type: EventType, message: str = "m1") -> SendEvent:
    return SendEvent(id, type, AT, "d1", "alice", message, "c", "e")


def test_sending_events_are_stored_once_and_flagged_when_no_sent_announced_them() -> None:
    stored: set[str] = {"old"}
    announced: set[tuple[str, str]] = set()
    events = [
        send("old", EventType.SENT),
        send("a", EventType.DELIVERED),  # before its Sent
        send("b", EventType.SENT),
        send("c", EventType.DELIVERED),
        send("c", EventType.DELIVERED),  # repeated within the batch
        send("d", EventType.SOFT_BOUNCED, message="m2"),
    ]
    outcomes, rows = send_rows(events, stored, announced, lambda e: e.id)
    assert outcomes == [
        "duplicate",
        "stored_unknown_message",
        "stored",
        "stored",
        "duplicate",
        "stored_unknown_message",
    ]
    assert [r[7] for r in rows] == ["a", "b", "c", "d"]  # the sender's id, 8th
    assert ["unknown_message" in r for r in rows] == [True, False, False, True]
    assert stored == {"old", "a", "b", "c", "d"} and announced == {("d1", "m1")}
    delivered_key = dedupe_key(EventType.DELIVERED, "d1", "alice", "c", "e", "m1")
    assert delivered_key in rows[0] and delivered_key in rows[2]
