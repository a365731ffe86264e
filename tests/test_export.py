"""GET /api/v1/events: an exporter that resumes from its cursor sees each event once."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tracker.tokens import Click, Message, Tokens


async def test_paging_while_hits_arrive_sees_every_event_once(
    client: TestClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    total = 300

    async def produce() -> None:
        for i in range(total):
            message = Message("d", f"r{i}", "c", "e")
            if i % 3:
                url = f"/c/{tokens.click_token(Click(message, 0, 'https://example.com/'))}"
            else:
                url = f"/o/{tokens.open_token(message)}.gif"
            resp = await client.get(url, allow_redirects=False)
            assert resp.status in (200, 302)
            if i % 10 == 0:
                await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    seen: list[str] = []
    cursor = "0"
    while True:
        resp = await client.get(f"/api/v1/events?after={cursor}&limit=7", headers=auth)
        assert resp.status == 200
        page = await resp.json()
        seen += [item["recipient"] for item in page["items"]]
        cursors = [int(item["cursor"]) for item in page["items"]]
        assert cursors == sorted(cursors) and all(c > int(cursor) for c in cursors)
        if page["items"]:
            cursor = page["items"][-1]["cursor"]
        if page["next"] is None and producer.done():
            break
        if page["next"] is None:
            await asyncio.sleep(0.005)
    await producer
    # A last read after the producer finished: nothing left.
    resp = await client.get(f"/api/v1/events?after={cursor}", headers=auth)
    seen += [item["recipient"] for item in (await resp.json())["items"]]
    assert sorted(seen) == sorted(f"r{i}" for i in range(total))
    assert len(seen) == len(set(seen)) == total


async def test_export_items_and_filters(
    client: TestClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    events = [{"id": "s1", "type": "sent", "delivery": "d", "recipient": "r", "email": "e"}]
    assert (await client.post("/api/v1/events", json=events, headers=auth)).status == 200
    message = Message("d", "r", "c", "e")
    click = f"/c/{tokens.click_token(Click(message, 2, 'https://x.example/'))}"
    await client.get(click, allow_redirects=False)
    page = await (await client.get("/api/v1/events", headers=auth)).json()
    assert [i["type"] for i in page["items"]] == ["sent", "clicked"]
    assert page["items"][0]["id"] == "s1"
    assert page["items"][1]["link"] == 2 and page["items"][1]["url"] == "https://x.example/"
    assert page["next"] is None
    only = await (await client.get("/api/v1/events?type=clicked", headers=auth)).json()
    assert [i["type"] for i in only["items"]] == ["clicked"]
    for query in ("after=-1", "after=abc", "limit=0", "limit=99999", "type=nope"):
        assert (await client.get(f"/api/v1/events?{query}", headers=auth)).status == 400
