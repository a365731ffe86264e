"""The event-type metadata is what the stores, the API and the reports go by."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tracker.config import Settings
from tracker.eventtypes import (
    FIGURES,
    HARD_CATEGORIES,
    HIT_TYPES,
    SEND_TIMES,
    SEND_TYPES,
    SUPPRESSING,
)


def index_types(rows: Rows, settings: Settings, name: str) -> set[str]:
    """The event types an index of the live schema is partial to."""
    if settings.database_url:
        found = rows("SELECT indexdef AS sql FROM pg_indexes WHERE indexname = ?"
                     " AND schemaname = current_schema()", name)  # fmt: skip
    else:
        found = rows("SELECT sql FROM sqlite_master WHERE name = ?", name)
    assert len(found) == 1, found
    return set(re.findall(r"'(\w+)'", found[0]["sql"]))


async def test_the_partial_indexes_cover_exactly_the_types_their_reads_name(
    client: TestClient, settings: Settings, rows: Rows
) -> None:
    # A read whose IN list differs from its partial index's scans the table (SQLite: an
    # error under INDEXED BY); both are built from the same list.
    assert index_types(rows, settings, "events_suppress") == set(SUPPRESSING)
    assert index_types(rows, settings, "events_sends") == set(SEND_TIMES)


async def test_the_api_accepts_and_names_the_types_of_the_metadata(
    client: TestClient, auth: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/events",
        json=[
            {"id": "a", "type": "sent", "delivery": "d1", "recipient": "r1"},
            {"id": "b", "type": "opened", "delivery": "d1", "recipient": "r1"},
            {"id": "c", "type": "hard_bounced", "delivery": "d1", "recipient": "r1",
             "category": "maybe"},
        ],
        headers=auth,
    )  # fmt: skip
    results = (await resp.json())["results"]
    assert [r["status"] for r in results] == ["stored", "invalid", "invalid"]
    assert results[1]["error"] == "type: must be one of sent, delivered, hard_bounced, soft_bounced"
    assert results[2]["error"] == "category: a hard bounce is one of invalid, spam_block"
    assert [str(t) for t in SEND_TYPES] == ["sent", "delivered", "hard_bounced", "soft_bounced"]
    assert HARD_CATEGORIES == ("invalid", "spam_block")

    for kind in HIT_TYPES:
        resp = await client.get(f"/api/v1/deliveries/d1/logs?type={kind}", headers=auth)
        assert resp.status == 200, kind
    resp = await client.get("/api/v1/deliveries/d1/logs?type=sent", headers=auth)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 400
    assert body["message"] == "type must be one of: opened, clicked, unsubscribed"

    resp = await client.get("/api/v1/deliveries/d1/stats", headers=auth)
    stats = await resp.json()
    assert {key: stats[key] for _, key in FIGURES} == {
        "sent": 1, "delivered": 0, "hard_bounced": 0, "soft_bounced": 0, "opened": 0,
        "clicks": 0, "unique_clickers": 0, "unsubscribed": 0,
    }  # fmt: skip
