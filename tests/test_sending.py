"""The sending system's API: delivery events in under the rules, mailability out."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tests.helpers import START, Clock
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Message, Tokens


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, clock: Clock) -> TestClient:
    return await aiohttp_client(create_app(settings, clock=clock))


async def post(api: TestClient, auth: dict[str, str], events: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def mailable(api: TestClient, auth: dict[str, str], who: str) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/recipients/{who}/mailable?campaign=c2", headers=auth)
    assert resp.status == 200
    return dict(await resp.json())


def event(id: str, type: str, recipient: str = "r1", **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "delivery": "d1", "recipient": recipient, **extra}


async def test_sent_every_time_and_delivered_once_per_message(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    body = await post(
        api,
        auth,
        [
            event("s1", "sent", email="e1", campaign="c1", address="r1@example.com"),
            event("s2", "sent", email="e1", campaign="c1"),
            event("d1", "delivered"),
            event("d2", "delivered"),
            event("d3", "delivered", recipient="stranger"),
        ],
    )
    assert [r["status"] for r in body["results"]] == [
        "stored",
        "stored",
        "stored",
        "ignored",
        "stored_unknown_message",
    ]
    assert rows("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type") == [
        {"type": "delivered", "n": 2},
        {"type": "sent", "n": 2},
    ]
    flagged = rows("SELECT recipient, flag FROM events WHERE flag IS NOT NULL")
    assert flagged == [{"recipient": "stranger", "flag": "unknown_message"}]


async def test_a_retried_batch_changes_nothing_and_bad_items_are_named(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    batch = [
        event("a", "sent"),
        event("b", "bounced"),
        {"id": "c", "type": "sent", "delivery": "d1"},
        event("d", "hard_bounced", category="maybe"),
        event("e", "sent", at="yesterday"),
        "not an object",
        event("f", "soft_bounced", reason="452 4.2.2 Mailbox full\r\nTry later"),
    ]
    first = await post(api, auth, batch)
    statuses = [(r["index"], r["id"], r["status"]) for r in first["results"]]
    assert statuses == [
        (0, "a", "stored"),
        (1, "b", "invalid"),
        (2, "c", "invalid"),
        (3, "d", "invalid"),
        (4, "e", "invalid"),
        (5, None, "invalid"),
        (6, "f", "stored"),
    ]
    errors = {r["index"]: r["error"] for r in first["results"] if r["status"] == "invalid"}
    assert errors[1].startswith("type:") and errors[2].startswith("recipient:")
    assert errors[3].startswith("category:") and errors[4].startswith("at:")
    second = await post(api, auth, batch)
    assert [r["status"] for r in second["results"] if r["status"] != "invalid"] == [
        "duplicate",
        "duplicate",
    ]
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 2}]
    reason = rows("SELECT reason FROM events WHERE event_id = 'f'")[0]["reason"]
    assert reason == "452 4.2.2 Mailbox full Try later"


async def test_repeats_within_a_batch_and_of_stored_events(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    """A repeated id is a duplicate whether its twin is earlier in the batch or stored; a
    second Delivered of a message is ignored either way; bad items leave the rest kept."""
    first = await post(
        api,
        auth,
        [
            event("s1", "sent", campaign="c1", email="e1"),
            event("s1", "sent", campaign="c1", email="e1"),  # repeated in the batch
            event("d1", "delivered"),
            event("d1-again", "delivered"),  # the same message: kept once
            {"id": "x", "type": "delivered"},  # no delivery, no recipient
            event("b1", "soft_bounced", recipient="r2"),  # no Sent announced r2's message
        ],
    )
    assert [r["status"] for r in first["results"]] == [
        "stored", "duplicate", "stored", "ignored", "invalid", "stored_unknown_message",
    ]  # fmt: skip
    assert first["counts"] == {
        "stored": 2, "duplicate": 1, "ignored": 1, "invalid": 1, "stored_unknown_message": 1,
    }  # fmt: skip
    second = await post(
        api,
        auth,
        [
            event("d1", "delivered"),  # stored before
            event("d2", "delivered"),  # a new id for a message delivered before
            event("s2", "sent", recipient="r2"),
            event("d3", "delivered", recipient="r2"),  # announced by s2 just before
        ],
    )
    assert [r["status"] for r in second["results"]] == ["duplicate", "ignored", "stored", "stored"]
    assert second["counts"] == {"duplicate": 1, "ignored": 1, "stored": 2}
    stored = rows("SELECT event_id, type, recipient, flag FROM events ORDER BY id")
    assert stored == [
        {"event_id": "s1", "type": "sent", "recipient": "r1", "flag": None},
        {"event_id": "d1", "type": "delivered", "recipient": "r1", "flag": None},
        {"event_id": "b1", "type": "soft_bounced", "recipient": "r2", "flag": "unknown_message"},
        {"event_id": "s2", "type": "sent", "recipient": "r2", "flag": None},
        {"event_id": "d3", "type": "delivered", "recipient": "r2", "flag": None},
    ]
    # What an item did not say is NULL, as the reports and the export read it.
    empty = rows(
        "SELECT count(*) AS n FROM events WHERE category IS NULL AND reason IS NULL"
        " AND address IS NULL AND status IS NULL AND cause IS NULL"
    )
    assert empty == [{"n": 5}]
    assert rows("SELECT count(*) AS n FROM events WHERE dedupe IS NULL") == [{"n": 3}]


async def test_ids_beyond_ascii_and_lone_surrogates(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    """A non-ASCII id is stored and answered as sent; an id holding a lone surrogate (valid
    JSON, not UTF-8) is that item's error, not the batch's."""
    body = (
        '[{"id": "caf\\u00e9-1", "type": "sent", "delivery": "d1", "recipient": "r\\u00f6"},'
        ' {"id": "bad-\\ud800", "type": "sent", "delivery": "d1", "recipient": "r1"}]'
    )
    headers = {**auth, "Content-Type": "application/json"}
    resp = await api.post("/api/v1/events", data=body.encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert [(r["id"], r["status"]) for r in answer["results"]] == [
        ("café-1", "stored"),
        ("bad-\ud800", "invalid"),
    ]
    assert answer["results"][1]["error"] == "id: must be printable UTF-8 text"
    assert rows("SELECT event_id, recipient FROM events") == [
        {"event_id": "café-1", "recipient": "rö"}
    ]


async def test_hard_bounce_invalid_is_for_good(
    api: TestClient, auth: dict[str, str], clock: Clock
) -> None:
    assert (await mailable(api, auth, "r1"))["mailable"] is True
    await post(api, auth, [event("s", "sent"), event("h", "hard_bounced", category="invalid")])
    clock.advance(days=400)
    answer = await mailable(api, auth, "r1")
    assert answer == {
        "recipient": "r1",
        "campaign": "c2",
        "mailable": False,
        "reason": "invalid",
        "until": None,
    }


async def test_a_bounce_without_category_is_judged_from_its_reply(
    api: TestClient, auth: dict[str, str], clock: Clock, rows: Rows
) -> None:
    """ "550 5.7.1 blocked by spam filter" without a category: 24 h, not gone for good."""
    body = await post(
        api,
        auth,
        [
            event("b1", "hard_bounced", recipient="blocked",
                  reason="550 5.7.1 blocked by spam filter"),
            event("b2", "hard_bounced", recipient="gone",
                  reason="550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown"),
            event("b3", "hard_bounced", recipient="nothing-said"),
            event("b4", "hard_bounced", recipient="sender-says", category="invalid",
                  reason="421 4.7.0 Try again later, closing connection"),
        ],
    )  # fmt: skip
    assert [r.get("disagrees") for r in body["results"]] == [None, None, None, "soft_bounced"]
    stored = rows("SELECT recipient, category, status FROM events ORDER BY id")
    assert stored == [
        {"recipient": "blocked", "category": "spam_block", "status": "5.7.1"},
        {"recipient": "gone", "category": "invalid", "status": "5.1.1"},
        {"recipient": "nothing-said", "category": "spam_block", "status": None},
        {"recipient": "sender-says", "category": "invalid", "status": "4.7.0"},
    ]
    clock.advance(hours=25)
    assert (await mailable(api, auth, "blocked"))["mailable"] is True
    assert (await mailable(api, auth, "nothing-said"))["mailable"] is True
    assert (await mailable(api, auth, "gone"))["reason"] == "invalid"
    assert (await mailable(api, auth, "sender-says"))["reason"] == "invalid"


async def test_spam_block_stops_every_campaign_for_24_hours(
    api: TestClient, auth: dict[str, str], clock: Clock
) -> None:
    bounced_at = START - timedelta(hours=2)
    late_report = event("h", "hard_bounced", category="spam_block", at="2026-11-22T21:00:00Z")
    await post(api, auth, [late_report])
    answer = await mailable(api, auth, "r1")
    assert answer["mailable"] is False and answer["reason"] == "spam_block"
    assert answer["until"] == "2026-11-23T21:00:00Z"
    clock.now = bounced_at + timedelta(hours=23, minutes=59)
    assert (await mailable(api, auth, "r1"))["mailable"] is False
    clock.now = bounced_at + timedelta(hours=24)
    assert (await mailable(api, auth, "r1"))["mailable"] is True


async def test_soft_bounce_leaves_the_person_mailable(
    api: TestClient, auth: dict[str, str]
) -> None:
    await post(api, auth, [event("s", "sent"), event("b", "soft_bounced", reason="mailbox full")])
    assert (await mailable(api, auth, "r1"))["mailable"] is True


async def test_unsubscribe_from_the_form_stops_every_campaign(
    api: TestClient, auth: dict[str, str], tokens: Tokens
) -> None:
    token = tokens.unsubscribe_token(Message("d1", "r1", "c1", "e1"))
    assert (await api.post(f"/u/{token}", data={"confirm": "yes"})).status == 200
    answer = await mailable(api, auth, "r1")
    assert (answer["mailable"], answer["reason"], answer["until"]) == (
        False,
        "unsubscribed",
        None,
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b"{}", 400), (b"[]", 400), (b'"text"', 400)],
    ids=["garbage", "object", "empty", "string"],
)
async def test_bad_bodies_are_400(
    api: TestClient, auth: dict[str, str], rows: Rows, body: bytes, status: int
) -> None:
    resp = await api.post("/api/v1/events", data=body, headers=auth)
    assert resp.status == status
    assert "error" in await resp.json()
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 0}]


async def test_events_and_mailable_need_a_key(api: TestClient, rows: Rows) -> None:
    resp = await api.post("/api/v1/events", json=[event("a", "sent")])
    assert resp.status == 401
    wrong = {"Authorization": "Bearer nope"}
    resp = await api.post("/api/v1/events", json=[event("a", "sent")], headers=wrong)
    assert resp.status == 403
    assert (await api.get("/api/v1/recipients/r1/mailable")).status == 401
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 0}]


async def test_oversized_body_is_413(api: TestClient, auth: dict[str, str]) -> None:
    big = json.dumps([event(f"id-{i}", "sent", reason="x" * 900) for i in range(2000)])
    headers = {**auth, "Content-Type": "application/json"}
    resp = await api.post("/api/v1/events", data=io.BytesIO(big.encode()), headers=headers)
    assert resp.status == 413


async def test_mailable_for_a_whole_list(api: TestClient, auth: dict[str, str]) -> None:
    await post(
        api,
        auth,
        [
            event("h1", "hard_bounced", recipient="gone", category="invalid"),
            event("h2", "hard_bounced", recipient="blocked", category="spam_block"),
        ],
    )
    people = [f"p{i}" for i in range(9_998)] + ["gone", "blocked"]
    resp = await api.post("/api/v1/mailable", json={"recipients": people}, headers=auth)
    assert resp.status == 200
    results = (await resp.json())["results"]
    assert [r["recipient"] for r in results] == people
    assert sum(r["mailable"] for r in results) == 9_998
    assert (results[-2]["reason"], results[-1]["reason"]) == ("invalid", "spam_block")
    for bad in ({}, {"recipients": []}, {"recipients": [1]}, {"recipients": ["x"] * 10_001}):
        resp = await api.post("/api/v1/mailable", json=bad, headers=auth)
        assert resp.status == 400


async def test_decorate_over_http_for_one_and_many(
    api: TestClient, auth: dict[str, str], tokens: Tokens, rows: Rows
) -> None:
    html = '<html><body><a href="https://shop.example/a">A</a></body></html>'
    ids = {"delivery": "d9", "campaign": "c9", "email": "e9"}
    one = await api.post("/api/v1/decorate", json={**ids, "recipient": "r1", "html": html},
                         headers=auth)  # fmt: skip
    assert one.status == 200
    body = await one.json()
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = body["html"].split("/c/", 1)[1].split('"', 1)[0]
    assert tokens.read_click(token).message.recipient == "r1"

    many = await api.post(
        "/api/v1/decorate", json={**ids, "recipients": ["a", "b", "c"], "html": html}, headers=auth
    )
    answers = await many.json()
    # The one link, and the invisible honeypot link of each copy.
    assert [a["html"].count("/c/") for a in answers] == [2, 2, 2]
    readers = [tokens.read_click(a["html"].split("/c/", 1)[1].split('"', 1)[0]) for a in answers]
    assert [r.message.recipient for r in readers] == ["a", "b", "c"]
    assert rows("SELECT link, url FROM links WHERE delivery = 'd9'") == [
        {"link": 0, "url": "https://shop.example/a"}
    ]
    bad_bodies: list[dict[str, Any]] = [
        {**ids, "html": html},
        {**ids, "recipient": "r", "html": ""},
        {"delivery": "d", "recipient": "r", "html": html},
        {**ids, "recipient": "x" * 300, "html": html},
        {**ids, "recipients": [], "html": html},
    ]
    for bad in bad_bodies:
        resp = await api.post("/api/v1/decorate", json=bad, headers=auth)
        assert resp.status == 400, bad
    huge = {**ids, "recipient": "r", "html": "<p>" + "x" * 600_000}
    resp = await api.post("/api/v1/decorate", data=json.dumps(huge).encode(), headers=auth)
    assert resp.status == 413


async def test_the_body_limit_is_a_setting(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    small = await aiohttp_client(create_app(replace(settings, max_body=10_000)))
    batch = json.dumps([event(f"id-{i}", "sent") for i in range(200)]).encode()
    headers = {**auth, "Content-Type": "application/json"}
    resp = await small.post("/api/v1/events", data=io.BytesIO(batch), headers=headers)
    assert resp.status == 413
