"""Decorate's bounds over HTTP: links × recipients, output size, CPU time; /v/ rendered once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tracker import decorate_pool
from tracker.app import create_app
from tracker.config import ConfigError, Settings, load
from tracker.decorate_pool import MAX_LINKS, MAX_OUTPUT
from tracker.tokens import Message, Tokens

IDS = {"delivery": "d1", "campaign": "c1", "email": "e1"}
# CPython's parser rescans to the end from each unclosed "<a ": quadratic in its length.
PATHOLOGICAL = '<a href="https://shop.example/">Sale</a>' + "<a " * 12_000


async def decorate(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    resp = await client.post("/api/v1/decorate", json={**IDS, **body}, headers=auth)
    return resp.status, await resp.json()


async def test_links_times_recipients_over_the_bound_is_a_413_and_nothing_is_stored(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    links = MAX_LINKS // 1000 + 1
    html = "".join(f'<a href="https://shop.example/{n}">x</a>' for n in range(links))
    people = [f"r{i}" for i in range(1000)]
    status, body = await decorate(client, auth, recipients=people, html=html)
    assert status == 413, body
    assert body["error"] == "too_large"
    assert f"{links} tracked links × 1000 recipients is over {MAX_LINKS}" in body["message"]
    assert rows("SELECT delivery FROM deliveries") == []
    status, body = await decorate(client, auth, recipients=people[:10], html=html)
    assert status == 200 and len(body) == 10


async def test_copies_over_the_output_bound_are_a_413(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    html = "<p>" + "x" * (MAX_OUTPUT // 1000) + "</p>"
    status, body = await decorate(client, auth, recipients=[f"r{i}" for i in range(1000)],
                                  html=html)  # fmt: skip
    assert status == 413 and body["error"] == "too_large", body
    assert "fewer recipients" in body["message"]
    assert rows("SELECT delivery FROM deliveries") == []


async def test_a_template_over_the_cpu_budget_is_a_422_and_nothing_is_stored(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], rows: Rows
) -> None:
    client = await aiohttp_client(create_app(replace(settings, decorate_seconds=0.5)))
    status, body = await decorate(client, auth, recipient="r1", html=PATHOLOGICAL)
    assert status == 422, body
    assert body["error"] == "too_costly" and "0.5 s of CPU time" in body["message"]
    assert rows("SELECT delivery FROM deliveries") == []
    status, body = await decorate(
        client, auth, recipient="r1", html="<a href='https://x.example/'>"
    )
    assert status == 200 and "/c/" in body["html"], "the pool still decorates"


async def test_view_in_browser_is_rendered_once_per_copy(
    client: TestClient, auth: dict[str, str], tokens: Tokens
) -> None:
    # A slow template (about a second in the parser): the second view must not parse again.
    slow = '<a href="https://shop.example/">Sale</a>' + "<a " * 3_000
    status, _ = await decorate(client, auth, recipient="alice", html=slow)
    assert status == 200
    view = f"/v/{tokens.view_token(Message('d1', 'alice', 'c1', 'e1'))}"
    timings, pages = [], []
    for _ in range(2):
        started = time.perf_counter()
        page = await client.get(view)
        timings.append(time.perf_counter() - started)
        assert page.status == 200
        pages.append(await page.text())
    assert pages[0] == pages[1] and "/c/" in pages[0]
    assert timings[1] < timings[0] / 5, timings

    # Decorated again with other content: the view shows it, not the cached copy.
    status, _ = await decorate(client, auth, recipient="alice", html="<p>Winter sale</p>")
    page = await client.get(view)
    assert status == 200 and "Winter sale" in await page.text()


def test_the_cpu_budget_is_a_setting_and_must_be_positive() -> None:
    assert load(env={"TRACKER_DECORATE_SECONDS": "2.5"}).decorate_seconds == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError, match="decorate_seconds"):
            load(env={"TRACKER_DECORATE_SECONDS": bad})


async def test_calls_beyond_the_waiting_room_are_a_503_at_once(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], monkeypatch: Any
) -> None:
    monkeypatch.setattr(decorate_pool, "MAX_WAITING", 1)  # one running, one waiting
    client = await aiohttp_client(create_app(replace(settings, decorate_seconds=0.5)))
    calls = [decorate(client, auth, recipient=f"r{i}", html=PATHOLOGICAL) for i in range(3)]
    answers = await asyncio.gather(*calls)
    assert sorted(status for status, _ in answers) == [422, 422, 503], answers
    busy = next(body for status, body in answers if status == 503)
    assert busy["error"] == "busy"
