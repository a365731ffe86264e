"""A mailing where a third of the opens come through Gmail's image proxy: every report
counts them as people's, and says how many came through a proxy."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.conftest import Rows
from tests.helpers import START, Clock, app_client, came_from, cell, cli, logged_in
from tests.verdict_corpus import APPLE_MAIL_IPHONE, APPLE_MPP, GMAIL_PROXY, OUTLOOK
from tracker.config import Settings
from tracker.events import iso
from tracker.tokens import Message, Tokens

DELIVERY = "spring"
PEOPLE = [f"r{n:02d}" for n in range(30)]


async def test_a_third_of_the_opens_through_gmail_s_proxy_count_in_the_open_rate(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    cli_env: None,
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    events = [
        {"id": f"{kind}-{who}", "type": kind, "delivery": DELIVERY, "recipient": who,
         "at": iso(START)}
        for who in PEOPLE for kind in ("sent", "delivered")
    ]  # fmt: skip
    resp = await client.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200

    def pixel(who: str) -> str:
        return f"/o/{tokens.open_token(Message(DELIVERY, who, 'c', 'e'))}.gif"

    # At delivery: Apple's proxy prefetches two copies, and a provider scans one through
    # Gmail's proxy: machines' opens.
    clock.now = START + timedelta(seconds=2)
    for who in PEOPLE[27:29]:
        await client.get(pixel(who), headers=came_from("17.58.63.17", APPLE_MPP))
    await client.get(pixel(PEOPLE[29]), headers=came_from("66.249.84.9", GMAIL_PROXY))
    # Over the day, 24 people open: 8 in Gmail (through its proxy), 16 in Apple Mail or
    # Outlook; some open twice (Gmail's second open is its cache's: no request).
    for n, who in enumerate(PEOPLE[:24]):
        clock.now = START + timedelta(hours=1, minutes=20 * n)
        if n % 3 == 0:
            headers = came_from(f"66.249.84.{n + 1}", GMAIL_PROXY)
        else:
            headers = came_from(f"81.2.69.{n + 1}", APPLE_MAIL_IPHONE if n % 2 else OUTLOOK)
        for _ in range(1 if n % 3 == 0 else 2):
            resp = await client.get(pixel(who), headers=headers)
            assert resp.status == 200

    def expect(stats: dict[str, Any]) -> None:
        assert stats["delivered"] == 30
        assert stats["opened"] == 24
        assert stats["rates"]["open"] == 0.8
        assert stats["bots"] == {
            "proxy_opens": 8,
            "machine_opens": 3,
            "bot_opens": 0,
            "bot_clicks": 0,
        }

    resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)
    expect(await resp.json())
    gmail = rows(
        "SELECT count(*) AS n FROM hits WHERE client = 'Gmail' AND device = 'proxy'"
        " AND verdict = 'human' AND reasons = 'image_proxy,net:image-proxies'"
    )
    assert gmail == [{"n": 8}]
    resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/clients", headers=auth)
    by_client = {(c["client"], c["device"]): c["opened"] for c in (await resp.json())["clients"]}
    assert by_client[("Gmail", "proxy")] == 8

    # The same numbers once the workflow has consolidated them.
    await cli("workflow", "run")
    resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)
    expect(await resp.json())

    # The CLI report and the dashboard show the proxy opens beside the machines'.
    report = await cli("report", "delivery", DELIVERY)
    assert re.search(r"^proxy opens\s+8$", report, re.MULTILINE), report
    assert re.search(r"^machine opens\s+3$", report, re.MULTILINE), report
    await logged_in(client)
    page = await (await client.get(f"/ui/deliveries/{DELIVERY}")).text()
    assert cell(page, "data-bots", "proxy_opens") == "8"
    assert cell(page, "data-bots", "machine_opens") == "3"
    assert cell(page, "data-figure", "opened") == "24"
