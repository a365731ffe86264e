"""Failures found by the reliability suite: the store failing (hits still answered and
counted, the sending API answers a JSON 503) and JSON nested too deep to parse (a 400)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import API_KEY, PERSON
from tracker.app import create_app
from tracker.config import Settings
from tracker.routes.tracking import PIXEL
from tracker.store.sqlite.store import SQLiteStore
from tracker.tokens import Click, Message, Tokens


@pytest.mark.sqlite_only("the fault hook is the SQLite store's (TRACKER_FAULT_RATE)")
async def test_every_write_failing(settings: Settings, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "failing.db", fault_rate=1.0)
    client = TestClient(TestServer(create_app(settings, store=store)))
    await client.start_server()
    try:
        tokens = Tokens(settings.secret_keys)
        message = Message("d", "r", "c", "e")
        resp = await client.get(f"/o/{tokens.open_token(message)}.gif", headers=PERSON)
        assert resp.status == 200 and await resp.read() == PIXEL
        click = tokens.click_token(Click(message, 0, "https://example.com/"))
        resp = await client.get(f"/c/{click}", headers=PERSON, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "https://example.com/"

        item = {"id": "e1", "type": "sent", "delivery": "d", "recipient": "r"}
        auth = {"Authorization": f"Bearer {API_KEY}"}
        resp = await client.post("/api/v1/events", json=[item], headers=auth)
        assert resp.status == 503, await resp.text()
        assert (await resp.json())["error"] == "unavailable"
        assert resp.headers["Retry-After"] == "1"

        text = await (await client.get("/metrics")).text()
        assert 'tracker_hits_total{outcome="store_error",route="open"} 1.0' in text
        assert 'tracker_hits_total{outcome="store_error",route="click"} 1.0' in text
        failed = [line for line in text.splitlines() if line.startswith("tracker_store_errors")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in failed if "_total" in line) >= 9
    finally:
        await client.close()


async def test_deeply_nested_json_is_a_400_not_a_500(
    client: TestClient, auth: dict[str, str]
) -> None:
    depth = 100_000
    body = b"[" * depth + b"]" * depth
    for path in ("/api/v1/events", "/api/v1/mailable"):
        resp = await client.post(
            path, data=body, headers={**auth, "Content-Type": "application/json"}
        )
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"] == "bad_request"
