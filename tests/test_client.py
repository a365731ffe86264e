"""tracker.client against a real server on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import API_KEY
from tracker.app import create_app
from tracker.client import TrackerClient, TrackerError
from tracker.config import Settings


@pytest.fixture
async def server(settings: Settings) -> Any:
    srv = TestServer(create_app(settings), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def test_client_posts_checks_decorates_and_exports(server: TestServer) -> None:
    base = str(server.make_url(""))
    async with TrackerClient(base, API_KEY) as tracker:
        result = await tracker.post_events(
            [
                {"id": "1", "type": "sent", "delivery": "d", "recipient": "a b/c"},
                {
                    "id": "2",
                    "type": "hard_bounced",
                    "delivery": "d",
                    "recipient": "a b/c",
                    "category": "invalid",
                },  # fmt: skip
            ]
        )
        assert result["counts"] == {"stored": 2}
        assert (await tracker.mailable("a b/c"))["reason"] == "invalid"
        many = await tracker.mailable_many(["a b/c", "other"])
        assert [m["mailable"] for m in many] == [False, True]
        mail = await tracker.decorate(
            delivery="d", campaign="c", email="e", recipient="r",
            html='<body><a href="https://example.com/">x</a></body>',
        )  # fmt: skip
        assert "/c/" in mail["html"] and "List-Unsubscribe" in mail["headers"]
        items = [item async for item in tracker.iter_events(limit=1)]
        assert [i["id"] for i in items] == ["1", "2"]
    async with TrackerClient(base, "wrong-key") as intruder:
        with pytest.raises(TrackerError) as refused:
            await intruder.mailable("a")
        assert refused.value.status == 403
