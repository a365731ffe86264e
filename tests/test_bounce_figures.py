"""Hard bounces by category and complaints, in the stats API, the CLI report and the
dashboard: each number recounted from what the test posted."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.helpers import cell, cli, logged_in
from tracker.config import Settings

DELIVERY = "d-bounces"


def event(n: int, kind: str, **more: str) -> dict[str, str]:
    return {"id": f"{kind}-{n}", "type": kind, "delivery": DELIVERY, "recipient": f"p{n}", **more}


@pytest.mark.usefixtures("cli_env")
async def test_hard_bounces_split_by_category_everywhere(
    client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    posted = [event(n, "sent") for n in range(10)]
    posted += [event(n, "hard_bounced", category="invalid") for n in range(3)]
    posted += [event(n, "hard_bounced", category="spam_block") for n in range(3, 5)]
    posted += [event(5, "soft_bounced")]
    resp = await client.post("/api/v1/events", json=posted, headers=auth)
    assert resp.status == 200

    async def check() -> None:
        resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)
        stats = await resp.json()
        assert stats["hard_bounced"] == 5
        assert stats["hard_bounced_by_category"] == {"invalid": 3, "spam_block": 2}
        assert stats["soft_bounced"] == 1

    await check()
    await cli("workflow", "run")  # consolidated: the split still reads the events
    await check()

    report = await cli("report", "delivery", DELIVERY)
    assert re.search(r"^hard bounced invalid\s+3$", report, re.MULTILINE), report
    assert re.search(r"^hard bounced spam_block\s+2$", report, re.MULTILINE), report
    as_json = json.loads(await cli("report", "delivery", DELIVERY, "--json"))
    assert as_json["stats"]["hard_bounced_by_category"] == {"invalid": 3, "spam_block": 2}

    await logged_in(client)
    page = await (await client.get(f"/ui/deliveries/{DELIVERY}")).text()
    assert cell(page, "data-bounces", "invalid") == "3"
    assert cell(page, "data-bounces", "spam_block") == "2"
    assert cell(page, "data-figure", "hard_bounced") == "5"
