"""Hard bounces by category and complaints, in the stats API, the CLI report and the
dashboard: each number recounted from what the test posted and took."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cell, cli, logged_in
from tracker.tokens import Message, Tokens

CORPUS = Path(__file__).parent / "data" / "bounces" / "messages"

DELIVERY = "d-bounces"


def event(n: int, kind: str, **more: str) -> dict[str, str]:
    return {"id": f"{kind}-{n}", "type": kind, "delivery": DELIVERY, "recipient": f"p{n}", **more}


@pytest.mark.usefixtures("cli_env")
async def test_hard_bounces_by_category_and_complaints_everywhere(
    client: Any, tokens: Tokens, auth: dict[str, str], tmp_path: Path
) -> None:
    posted = [event(n, "sent") for n in range(10)]
    posted += [event(n, "hard_bounced", category="invalid") for n in range(3)]
    posted += [event(n, "hard_bounced", category="spam_block") for n in range(3, 5)]
    posted += [event(5, "soft_bounced")]
    posted += [event(20, "sent", address="redacted@example.net", campaign="c", email="e")]
    resp = await client.post("/api/v1/events", json=posted, headers=auth)
    assert resp.status == 200
    # A real abuse report (ARF) about p20's message: Unsubscribed, cause "complaint".
    arf = tmp_path / "arf.eml"
    arf.write_bytes((CORPUS / "arf-01.eml").read_bytes())
    assert "1 matched, 1 stored" in await cli("bounces", str(arf))
    # p21 unsubscribes by the message's link: an Unsubscribed, and no complaint.
    link = f"/u/{tokens.unsubscribe_token(Message(DELIVERY, 'p21', 'c', 'e'))}"
    resp = await client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert resp.status == 200

    async def check() -> None:
        resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)
        stats = await resp.json()
        assert stats["hard_bounced"] == 5
        assert stats["hard_bounced_by_category"] == {"invalid": 3, "spam_block": 2}
        assert stats["soft_bounced"] == 1
        assert (stats["unsubscribed"], stats["complaints"]) == (2, 1)

    await check()
    await cli("workflow", "run")  # consolidated: the split still reads the events
    await check()

    report = await cli("report", "delivery", DELIVERY)
    assert re.search(r"^hard bounced invalid\s+3$", report, re.MULTILINE), report
    assert re.search(r"^hard bounced spam_block\s+2$", report, re.MULTILINE), report
    assert re.search(r"^complaints\s+1$", report, re.MULTILINE), report
    as_json = json.loads(await cli("report", "delivery", DELIVERY, "--json"))
    assert as_json["stats"]["hard_bounced_by_category"] == {"invalid": 3, "spam_block": 2}
    assert as_json["stats"]["complaints"] == 1

    await logged_in(client)
    page = await (await client.get(f"/ui/deliveries/{DELIVERY}")).text()
    assert cell(page, "data-bounces", "invalid") == "3"
    assert cell(page, "data-bounces", "spam_block") == "2"
    assert cell(page, "data-bounces", "complaints") == "1"
    assert cell(page, "data-figure", "hard_bounced") == "5"
