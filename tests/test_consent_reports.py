"""Consent in the reports: the consent mix of a delivery's recipients in its statistics,
the tracked sends in the deliveries list's CSV, and the recipients list filtered by state."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import PERSON
from tests.helpers import cli, logged_in
from tracker.app import create_app
from tracker.config import Settings

TEMPLATE = '<html><body><a href="https://shop.example/spring">Shop</a></body></html>'


async def app_with(aiohttp_client: Any, settings: Settings, **changes: Any) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(replace(settings, **changes)), headers=PERSON
    )
    return client


async def sent(
    client: TestClient, auth: dict[str, str], delivery: str, people: list[str], tag: str = ""
) -> None:
    events = [
        {"id": f"{delivery}-{who}{tag}-{kind}", "type": kind, "delivery": delivery,
         "recipient": who, "message": f"{who}{tag}", "campaign": "promo", "email": "e1",
         "at": "2026-01-05T09:00:00Z"}
        for who in people for kind in ("sent", "delivered")
    ]  # fmt: skip
    answer = await client.post("/api/v1/events", json=events, headers=auth)
    assert answer.status == 200
    assert (await answer.json())["counts"] == {"stored": len(events)}


async def state(client: TestClient, auth: dict[str, str], who: str, value: str, at: str) -> None:
    answer = await client.put(
        f"/api/v1/recipients/{who}/consent", json={"state": value, "at": at}, headers=auth
    )
    assert answer.status == 200


async def stats(client: TestClient, auth: dict[str, str], delivery: str) -> Any:
    answer = await client.get(f"/api/v1/deliveries/{delivery}/stats", headers=auth)
    assert answer.status == 200
    return await answer.json()


async def a_mixed_delivery(client: TestClient, auth: dict[str, str]) -> None:
    """Delivery spring to ann (twice), ben, cyd, dee, eve; autumn to fay. ann and eve
    granted, ben denied (after changing twice), cyd said unknown, dee never said."""
    await sent(client, auth, "spring", ["ann", "ben", "cyd", "dee", "eve"])
    await sent(client, auth, "spring", ["ann"], tag="-again")  # a second message: one person
    await sent(client, auth, "autumn", ["fay"])
    await state(client, auth, "ann", "granted", "2026-01-01T00:00:00Z")
    await state(client, auth, "ben", "denied", "2026-01-01T00:00:00Z")
    await state(client, auth, "ben", "granted", "2026-01-02T00:00:00Z")
    await state(client, auth, "ben", "denied", "2026-01-03T00:00:00Z")
    await state(client, auth, "cyd", "unknown", "2026-01-01T00:00:00Z")
    await state(client, auth, "eve", "granted", "2026-01-02T00:00:00Z")
    await state(client, auth, "eve", "denied", "2026-01-01T00:00:00Z")  # older: history only
    await state(client, auth, "fay", "denied", "2026-01-01T00:00:00Z")  # not spring's
    await state(client, auth, "zed", "granted", "2026-01-01T00:00:00Z")  # never mailed


async def test_the_statistics_give_the_recipients_consent_of_now(
    client: TestClient, auth: dict[str, str]
) -> None:
    await a_mixed_delivery(client, auth)
    spring = await stats(client, auth, "spring")
    assert spring["consent"] == {"granted": 2, "denied": 1, "unknown": 2}
    assert spring["sent"] == 6, "ann's two messages are two sends but one person"
    assert (await stats(client, auth, "autumn"))["consent"] == {
        "granted": 0, "denied": 1, "unknown": 0
    }  # fmt: skip
    await state(client, auth, "dee", "granted", "2026-01-04T00:00:00Z")
    await state(client, auth, "ben", "granted", "2026-01-04T00:00:00Z")
    again = await stats(client, auth, "spring")
    assert again["consent"] == {"granted": 4, "denied": 0, "unknown": 1}


@pytest.mark.usefixtures("cli_env")
async def test_the_text_report_gives_the_tracked_sends_and_the_consent_mix(
    client: TestClient, auth: dict[str, str]
) -> None:
    await a_mixed_delivery(client, auth)
    report = await cli("report", "delivery", "spring")
    assert re.search(r"^tracked sent\s+6$", report, re.MULTILINE), report
    assert re.search(r"^tracked delivered\s+6$", report, re.MULTILINE), report
    for state_, count in (("granted", 2), ("denied", 1), ("unknown", 2)):
        assert re.search(rf"^consent {state_}\s+{count}$", report, re.MULTILINE), report


async def test_a_delivery_with_no_send_has_no_one_to_count(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = {"delivery": "draft", "campaign": "promo", "email": "e1", "recipient": "ann",
            "html": TEMPLATE}  # fmt: skip
    assert (await client.post("/api/v1/decorate", json=body, headers=auth)).status == 200
    await state(client, auth, "ann", "granted", "2026-01-01T00:00:00Z")
    draft = await stats(client, auth, "draft")
    assert draft["consent"] == {"granted": 0, "denied": 0, "unknown": 0}


async def test_the_deliveries_csv_has_the_tracked_sends(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    client = await app_with(aiohttp_client, settings, consent="opt_in")
    await state(client, auth, "ann", "granted", "2026-01-01T00:00:00Z")
    await state(client, auth, "ben", "denied", "2026-01-01T00:00:00Z")
    body = {"delivery": "spring", "campaign": "promo", "email": "e1", "html": TEMPLATE,
            "recipients": ["ann", "ben", "cyd"]}  # fmt: skip
    decorated = await client.post("/api/v1/decorate", json=body, headers=auth)
    assert [c["tracked"] for c in await decorated.json()] == [True, False, False]
    await sent(client, auth, "spring", ["ann", "ben", "cyd"])
    await logged_in(client)
    listed = await client.get("/ui/deliveries.csv")
    assert listed.status == 200
    table = list(csv.reader(io.StringIO(await listed.text())))
    assert table[0][-3:] == ["last_activity", "tracked_sent", "tracked_delivered"]
    (row,) = [dict(zip(table[0], r, strict=True)) for r in table[1:] if r[0] == "spring"]
    assert (row["sent"], row["tracked_sent"], row["tracked_delivered"]) == ("3", "1", "1")


async def test_the_recipients_list_filters_a_delivery_by_consent(
    client: TestClient, auth: dict[str, str]
) -> None:
    await a_mixed_delivery(client, auth)
    await logged_in(client)

    async def listed(query: str) -> list[str]:
        page = await client.get(f"/ui/recipients?{query}")
        assert page.status == 200, query
        text = await page.text()
        return [line.split('"')[1] for line in text.split("data-recipient=")[1:]]

    assert await listed("delivery=spring&consent=granted") == ["ann", "eve"]
    assert await listed("delivery=spring&consent=denied") == ["ben"]
    assert await listed("delivery=spring&consent=unknown") == ["cyd", "dee"]
    assert await listed("delivery=spring&consent=unknown&after=cyd") == ["dee"]
    assert await listed("delivery=autumn&consent=denied") == ["fay"]
    bad = await client.get("/ui/recipients?delivery=spring&consent=maybe")
    assert bad.status == 400
    assert "consent must be one of: granted, denied, unknown" in await bad.text()
    assert (await client.get("/ui/recipients?delivery=nowhere&consent=denied")).status == 404
