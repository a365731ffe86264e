"""The dashboard's second pass over HTTP and in the store: the deliveries' figures the list
reads at once equal each delivery's statistics (consolidated or in the live tail), the
recipient search, the hot-clicks frame's own policy, the CSV exports, and a clear 4xx for
every bad address."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import START, Clock, logged_in, trusting_app
from tests.mailing import DELIVERY, mail
from tracker.config import Settings
from tracker.keys import STORE, WORKFLOW
from tracker.tokens import Click, Message, Tokens

CAMPAIGN = {DELIVERY: (7, 0), "fall-sale-reminder": (11, 3), "fall-sale-last-call": (13, 6)}


async def campaign(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> tuple[TestClient, Clock]:
    """Three deliveries; the workflow consolidates the first two, the third is the tail."""
    clock = Clock()
    client: TestClient = await aiohttp_client(trusting_app(settings, clock))
    for delivery, (seed, day) in CAMPAIGN.items():
        if day == 6:
            clock.now = START + timedelta(days=5, hours=12)
            run = await client.app[WORKFLOW].run()
            assert run.rows_read > 0
        await mail(client, clock, tokens, auth, START + timedelta(days=day), delivery, seed)
    assert await client.app[STORE].workflow_backlog() > 0, "a live tail too"
    return client, clock


async def test_the_list_s_figures_are_each_delivery_s_statistics(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    client, _ = await campaign(aiohttp_client, settings, tokens, auth)
    store = client.app[STORE]
    for traffic in ("human", "all"):
        found = {d["delivery"]: d for d in await store.delivery_summaries(traffic)}
        assert set(found) == set(CAMPAIGN)
        for delivery, summary in found.items():
            stats = await store.delivery_stats(delivery, traffic)
            for key in (
                "sent",
                "delivered",
                "hard_bounced",
                "soft_bounced",
                "opened",
                "clicks",
                "unique_clickers",
                "unsubscribed",
                "rates",
                "last_activity",
            ):
                assert summary[key] == stats[key], (traffic, delivery, key)
            assert summary["campaign"] == "autumn" and summary["email"] == "fall-email"
            sent = START + timedelta(days=CAMPAIGN[delivery][1])
            assert summary["date"].startswith(sent.strftime("%Y-%m-%dT%H:%M")), "its first Sent"

    # A delivery only the sending system named: its campaign from its events.
    resp = await client.post(
        "/api/v1/events",
        headers=auth,
        json=[
            {"id": "x1", "type": "sent", "delivery": "by-mta", "recipient": "r", "campaign": "mta"}
        ],
    )
    assert resp.status == 200
    only = [d for d in await store.delivery_summaries() if d["delivery"] == "by-mta"]
    assert [(d["campaign"], d["sent"], d["rates"]["open"]) for d in only] == [("mta", 1, None)]


async def test_the_list_sorts_searches_filters_and_exports(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    client, _ = await campaign(aiohttp_client, settings, tokens, auth)
    await logged_in(client)
    stats = {}
    for d in CAMPAIGN:
        stats[d] = await (await client.get(f"/api/v1/deliveries/{d}/stats", headers=auth)).json()
    resp = await client.get("/ui/deliveries.csv?sort=clicks&order=asc")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["delivery"] for r in rows] == sorted(CAMPAIGN, key=lambda d: stats[d]["clicks"])
    for r in rows:
        theirs = stats[r["delivery"]]
        assert int(r["opened"]) == theirs["opened"] and int(r["sent"]) == theirs["sent"]
        assert float(r["open_rate"]) == theirs["rates"]["open"]
    resp = await client.get("/ui/deliveries.csv?q=LAST")
    assert [r["delivery"] for r in csv.DictReader(io.StringIO(await resp.text()))] == [
        "fall-sale-last-call"
    ], "search ignores case"
    page = await (await client.get("/ui/?campaign=autumn&from=2026-11-25&to=2026-11-25")).text()
    assert 'data-delivery="fall-sale-reminder"' in page
    assert (
        'data-delivery="fall-sale"' not in page
        and 'data-delivery="fall-sale-last-call"' not in page
    )
    page = await (await client.get("/ui/?campaign=winter")).text()
    assert "No delivery matches." in page


async def test_bad_addresses_get_a_clear_4xx_and_pages_need_the_login(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    await mail(client, Clock(), tokens, auth, START)
    pages = (
        "/ui/deliveries.csv",
        "/ui/campaigns/autumn",
        "/ui/recipients",
        "/ui/recipients/p01",
        f"/ui/deliveries/{DELIVERY}/email",
        f"/ui/deliveries/{DELIVERY}/logs.csv",
    )
    for path in pages:
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/ui/login", path
    await logged_in(client)
    for path, says in (
        ("/ui/?sort=nonsense", "sort must be one of"),
        ("/ui/?order=up", "order must be asc or desc"),
        ("/ui/?from=2026-13-01", "from must be a date"),
        ("/ui/deliveries.csv?to=yesterday", "to must be a date"),
        (f"/ui/deliveries/{DELIVERY}?tab=logs&verdict=maybe", "verdict must be one of"),
        (f"/ui/deliveries/{DELIVERY}?tab=logs&type=sent", "type must be one of"),
        (f"/ui/deliveries/{DELIVERY}?tab=logs&after=-1", "after must be a position"),
        (f"/ui/deliveries/{DELIVERY}/logs.csv?verdict=maybe", "verdict must be one of"),
        ("/ui/recipients/p01?type=bounced", "type must be one of"),
        ("/ui/recipients/p01?sort=up", "sort must be asc or desc"),
        ("/ui/recipients?q=" + "x" * 300, "q must be at most 256 characters"),
    ):
        resp = await client.get(path)
        assert resp.status == 400 and says in await resp.text(), path
    for path in (
        "/ui/deliveries/nobody/email",
        "/ui/deliveries/nobody/logs.csv",
        "/ui/recipients/nobody",
        "/ui/campaigns/nothing",
    ):
        assert (await client.get(path)).status == 404, path


async def test_the_email_frame_has_its_own_policy_and_the_dashboard_keeps_its_strict_one(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    html = (
        '<a href="https://shop.example/" style="color:#d92d20">Shop</a>'
        '<img src="https://cdn.example/logo.png"><img src="http://tracker.test/o/x.gif">'
    )
    ids = {"delivery": "styled", "campaign": "c", "email": "e", "recipient": "r"}
    assert (
        await client.post("/api/v1/decorate", headers=auth, json={**ids, "html": html})
    ).status == 200
    await logged_in(client)
    page = await client.get("/ui/deliveries/styled?tab=hot")
    strict = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in strict and "script-src 'self'" in strict
    assert 'src="/ui/deliveries/styled/email"' in await page.text()
    frame = await client.get("/ui/deliveries/styled/email")
    assert frame.status == 200
    policy = frame.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "sandbox allow-same-origin" in policy
    assert "img-src https://cdn.example/logo.png data:;" in policy, "tracker's pixel is not listed"
    assert 'data-tracker-link="0"' in await frame.text()


async def test_the_logs_csv_is_every_filtered_hit_and_no_cell_is_a_formula(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    message = Message("formulas", "=cmd|' /C calc'!A0", "c", "e")
    click = tokens.click_token(Click(message, 0, "https://shop.example/"))
    for agent in ('=HYPERLINK("http://evil.example")', "+1", "Mozilla/5.0 plain"):
        resp = await client.get(f"/c/{click}", headers={"User-Agent": agent}, allow_redirects=False)
        assert resp.status == 302
    await logged_in(client)
    resp = await client.get("/ui/deliveries/formulas/logs.csv")
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="formulas-logs.csv"'
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["user_agent"] for r in rows] == [
        '\'=HYPERLINK("http://evil.example")',
        "'+1",
        "Mozilla/5.0 plain",
    ]
    assert {r["recipient"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    api = await client.get("/api/v1/deliveries/formulas/logs", headers=auth)
    assert [r["at"] for r in rows] == [i["at"] for i in (await api.json())["items"]]
    empty = await client.get("/ui/deliveries/formulas/logs.csv?verdict=machine_open")
    assert (await empty.text()).splitlines() == [
        "at,type,method,recipient,link,url,ip,user_agent,verdict,reasons,client,device"
    ]


async def test_recipients_are_found_by_the_beginning_of_their_id(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    people = ["a_b", "a%c", "ab", "abc", "b", "Ab"]
    events = [
        {"id": f"s{n}", "type": "sent", "delivery": "d", "recipient": p}
        for n, p in enumerate(people)
    ]
    assert (await client.post("/api/v1/events", headers=auth, json=events)).status == 200
    store = client.app[STORE]
    assert [r["recipient"] for r in await store.recipients("a_")] == ["a_b"]
    assert [r["recipient"] for r in await store.recipients("a%")] == ["a%c"]
    assert [r["recipient"] for r in await store.recipients("ab")] == ["ab", "abc"]
    assert [r["recipient"] for r in await store.recipients("a", limit=2)] == ["a%c", "a_b"]
    assert await store.recipients("zz") == []
    await logged_in(client)
    page = await (await client.get("/ui/recipients?q=ab")).text()
    assert page.count("<tr data-recipient=") == 2 and "/ui/recipients/abc" in page
