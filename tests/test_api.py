"""The report API: bearer keys, recipient tracking, delivery stats and URLs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import API_KEY, PERSON
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens


async def test_api_needs_a_key(client: TestClient, tokens: Tokens) -> None:
    await client.get(f"/o/{tokens.open_token(Message('d', 'r', 'c', 'e'))}.gif")
    path = "/api/v1/deliveries/d/stats"
    resp = await client.get(path)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["error"] == "unauthorized"
    assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status == 403
    assert (await client.get(path, headers={"Authorization": "Basic abc"})).status == 401
    for key in ("api-test-key-at-least-32-characters", "second-api-key-at-least-32-characters"):
        assert (await client.get(path, headers={"Authorization": f"Bearer {key}"})).status == 200


async def test_reports_follow_the_event_rules(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    # Bob's two clicks a moment apart would be Marketo's proximity pattern: verdicts have
    # their own tests (test_verdicts.py); here only the rules of events are checked.
    no_proximity = replace(settings, signals=("method", "user_agent", "network"))
    client = await aiohttp_client(create_app(no_proximity), headers=PERSON)
    alice = Message("spring", "alice", "c", "e")
    bob = Message("spring", "bob", "c", "e")
    for m in (alice, alice, bob):
        await client.get(f"/o/{tokens.open_token(m)}.gif")
    clicks = [(alice, 0), (alice, 0), (bob, 0), (bob, 1)]
    for m, link in clicks:
        url = f"https://shop.example/{link}"
        await client.get(f"/c/{tokens.click_token(Click(m, link, url))}", allow_redirects=False)
    head = f"/c/{tokens.click_token(Click(bob, 1, 'https://shop.example/1'))}"
    await client.head(head, allow_redirects=False)
    await client.post(f"/u/{tokens.unsubscribe_token(bob)}", data={"confirm": "yes"})

    stats = await (await client.get("/api/v1/deliveries/spring/stats", headers=auth)).json()
    assert stats["opened"] == 2
    assert stats["clicks"] == 4
    assert stats["unique_clickers"] == 2
    assert stats["unsubscribed"] == 1

    urls = await (await client.get("/api/v1/deliveries/spring/urls", headers=auth)).json()
    assert urls == [
        {
            "link": 0,
            "url": "https://shop.example/0",
            "clicks": 3,
            "unique_clickers": 2,
            "share": 0.75,
        },
        {
            "link": 1,
            "url": "https://shop.example/1",
            "clicks": 1,
            "unique_clickers": 1,
            "share": 0.25,
        },
    ]

    resp = await client.get("/api/v1/recipients/bob/tracking?sort=asc", headers=auth)
    items = (await resp.json())["items"]
    assert [i["type"] for i in items] == ["opened", "clicked", "clicked", "unsubscribed"]
    assert items[1]["url"] == "https://shop.example/0"
    assert all(i["delivery"] == "spring" for i in items)
    resp = await client.get("/api/v1/recipients/bob/tracking?type=clicked", headers=auth)
    newest_first = (await resp.json())["items"]
    assert [i["link"] for i in newest_first] == [1, 0]


async def test_report_api_rejects_bad_parameters(client: TestClient, auth: dict[str, str]) -> None:
    for query in ("type=nonsense", "sort=sideways", "limit=0", "limit=abc", "limit=100000"):
        resp = await client.get(f"/api/v1/recipients/r/tracking?{query}", headers=auth)
        assert resp.status == 400, query
        assert "error" in await resp.json()
    resp = await client.get("/api/v1/deliveries/" + "x" * 300 + "/stats", headers=auth)
    assert resp.status == 400


async def test_healthz_and_metrics(client: TestClient, tokens: Tokens, message: Message) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert "workflow" in body
    await client.get(f"/o/{tokens.open_token(message)}.gif")
    await client.get("/c/not-a-token")
    text = await (await client.get("/metrics")).text()
    assert 'tracker_hits_total{outcome="pixel",route="open"}' in text
    assert 'tracker_hits_total{outcome="bad_token",route="click"}' in text
    assert "tracker_writer_queue_depth" in text
    assert "tracker_commit_group_size_bucket" in text
    assert "tracker_commit_seconds_bucket" in text


DELIVERY_PATHS = ("stats", "urls", "hot-clicks", "timeline", "clients", "logs")


async def test_a_delivery_nothing_is_known_of_is_404_and_a_quiet_known_one_is_zeros(
    client: TestClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    """Unknown: no Sent, no decorate registration, no hit and no event name it."""
    for path in DELIVERY_PATHS:
        resp = await client.get(f"/api/v1/deliveries/no-such-delivery/{path}", headers=auth)
        assert resp.status == 404, path
        body = await resp.json()
        assert body["error"] == "not_found" and "no-such-delivery" in body["message"], path

    resp = await client.post("/api/v1/events", headers=auth, json=[
        {"id": "s1", "type": "sent", "delivery": "by-sent", "recipient": "r"},
        {"id": "b1", "type": "hard_bounced", "delivery": "by-bounce", "recipient": "r"},
    ])  # fmt: skip
    assert resp.status in (200, 207), await resp.text()
    ids = {"campaign": "c", "email": "e", "recipient": "r", "html": "<p>Hi</p>"}
    resp = await client.post("/api/v1/decorate", json={**ids, "delivery": "by-decorate"},
                             headers=auth)  # fmt: skip
    assert resp.status == 200
    await client.get(f"/o/{tokens.open_token(Message('by-hit', 'r', 'c', 'e'))}.gif")
    for delivery in ("by-sent", "by-bounce", "by-decorate", "by-hit"):
        for path in DELIVERY_PATHS:
            resp = await client.get(f"/api/v1/deliveries/{delivery}/{path}", headers=auth)
            assert resp.status == 200, (delivery, path)
    stats = await (await client.get("/api/v1/deliveries/by-decorate/stats", headers=auth)).json()
    assert (stats["sent"], stats["opened"], stats["clicks"]) == (0, 0, 0)


async def test_the_dashboard_says_when_no_delivery_has_the_id(
    aiohttp_client: Any, settings: Settings, tokens: Tokens
) -> None:
    client = await aiohttp_client(create_app(settings), headers=PERSON)
    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 303
    for tab in ("stats", "urls", "hot", "logs"):
        resp = await client.get(f"/ui/deliveries/no-such-delivery?tab={tab}")
        assert resp.status == 404, tab
        assert "No delivery “no-such-delivery”" in await resp.text()
    await client.get(f"/o/{tokens.open_token(Message('known', 'r', 'c', 'e'))}.gif")
    resp = await client.get("/ui/deliveries/known")
    assert resp.status == 200 and "No delivery" not in await resp.text()
