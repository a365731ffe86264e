"""Verdicts through the real server: gateways and proxies are kept, judged and shown apart."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from tests import pgserver
from tests.conftest import PERSON, Rows
from tests.helpers import Clock, app_client, came_from
from tracker.cli import main
from tracker.config import Settings
from tracker.events import EventType, iso
from tracker.rules import dedupe_key
from tracker.tokens import HONEYPOT_LINK, Click, Message, Tokens

# What gateways and proxies send: a browser's user agent, from their own networks.
GATEWAY_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
APPLE_MPP_UA = "Mozilla/5.0"
HOME = "81.2.69.160"  # a person's address
APPLE = "17.58.63.17"  # Apple's network: Mail Privacy Protection's proxies


def table(rows: Rows, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in rows(sql)]


async def stats(client: TestClient, auth: dict[str, str], query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/api/v1/deliveries/spring/stats{query}", headers=auth)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_a_gateway_clicking_everything_at_delivery_is_shown_apart_from_the_person(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    person = Message("spring", "alice", "c", "e")
    delivered = [
        {"id": "s1", "type": "sent", "delivery": "spring", "recipient": "alice",
         "at": iso(clock())},
        {"id": "d1", "type": "delivered", "delivery": "spring", "recipient": "alice",
         "at": iso(clock())},
    ]  # fmt: skip
    resp = await client.post("/api/v1/events", json=delivered, headers=auth)
    assert resp.status == 200

    links = [Click(person, n, f"https://shop.example/{n}") for n in range(5)]
    clock.advance(seconds=1.5)  # the gateway follows every link at once
    for link in links:
        resp = await client.get(
            f"/c/{tokens.click_token(link)}",
            headers=came_from("198.51.100.7", GATEWAY_UA),
            allow_redirects=False,
        )
        assert resp.status == 302  # a bot is still redirected: verdicts never refuse
    clock.advance(minutes=1)  # a minute later the person clicks one link
    resp = await client.get(
        f"/c/{tokens.click_token(links[2])}",
        headers=came_from(HOME, PERSON["User-Agent"]),
        allow_redirects=False,
    )
    assert resp.status == 302

    people = await stats(client, auth)
    assert people["clicks"] == 1
    assert people["unique_clickers"] == 1
    assert people["bots"]["bot_clicks"] == 5
    machines = await stats(client, auth, "?bots=only")
    assert machines["clicks"] == 5
    everything = await stats(client, auth, "?bots=include")
    assert everything["clicks"] == 6

    urls = await client.get("/api/v1/deliveries/spring/urls", headers=auth)
    assert [(u["link"], u["clicks"]) for u in await urls.json()] == [(2, 1)]

    stored = table(rows, "SELECT verdict, reasons FROM hits ORDER BY id")
    assert [v for v, _ in stored] == ["bot"] * 5 + ["human"]
    assert all("after_send" in r and "proximity" in r for _, r in stored[:5])
    assert stored[5][1] == ""


async def test_an_apple_proxy_open_does_not_use_up_the_persons_opened(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    pixel = f"/o/{tokens.open_token(Message('spring', 'bob', 'c', 'e'))}.gif"
    resp = await client.get(pixel, headers=came_from(APPLE, APPLE_MPP_UA))
    assert resp.status == 200 and resp.content_type == "image/gif"
    clock.advance(hours=3)
    await client.get(pixel, headers=came_from(HOME, PERSON["User-Agent"]))
    clock.advance(hours=1)
    await client.get(pixel, headers=came_from(HOME, PERSON["User-Agent"]))  # opened again

    people = await stats(client, auth)
    assert people["opened"] == 1
    assert people["bots"]["machine_opens"] == 1
    resp = await client.get("/api/v1/recipients/bob/tracking", headers=auth)
    items = (await resp.json())["items"]
    assert [(i["type"], i["verdict"]) for i in items] == [("opened", "human")]
    resp = await client.get("/api/v1/recipients/bob/tracking?bots=include", headers=auth)
    everything = (await resp.json())["items"]
    assert [i["verdict"] for i in everything] == ["human", "machine_open"]

    stored = table(rows, "SELECT verdict, reasons, ip, client FROM hits ORDER BY id")
    assert stored[0] == ("machine_open", "unknown_agent,net:apple-mpp", "17.58.63.0", "Other")
    assert stored[1] == ("human", "", "81.2.69.0", "Apple Mail")


async def test_a_honeypot_click_turns_the_clicks_around_it_to_bot(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    scanned = Message("spring", "carol", "c", "e")
    visible = Click(scanned, 0, "https://shop.example/0")
    trap = Click(scanned, HONEYPOT_LINK, "https://tracker.example/")
    scanner = came_from("203.0.113.9", GATEWAY_UA)
    await client.get(f"/c/{tokens.click_token(visible)}", headers=scanner, allow_redirects=False)
    clock.advance(seconds=10)  # slower than the proximity window, inside the honeypot's
    await client.get(f"/c/{tokens.click_token(trap)}", headers=scanner, allow_redirects=False)
    clock.advance(minutes=5)
    dave = Message("spring", "dave", "c", "e")
    await client.get(
        f"/c/{tokens.click_token(Click(dave, 0, 'https://shop.example/0'))}",
        headers=came_from(HOME, PERSON["User-Agent"]),
        allow_redirects=False,
    )

    stored = table(rows, "SELECT recipient, link, verdict, reasons FROM hits ORDER BY id")
    assert stored == [
        ("carol", 0, "bot", "honeypot"),  # judged human at first, turned by the trap
        ("carol", HONEYPOT_LINK, "bot", "honeypot"),
        ("dave", 0, "human", ""),
    ]
    people = await stats(client, auth)
    assert people["clicks"] == 1 and people["bots"]["bot_clicks"] == 2
    events = table(rows, "SELECT recipient, verdict FROM events ORDER BY id")
    assert events == [("carol", "bot"), ("carol", "bot"), ("dave", "human")]


async def test_a_pasted_link_clicked_by_many_stays_human_until_another_link_is_clicked(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, rows: Rows
) -> None:
    """The clicks of one link are never read for one another, yet a click on another
    link within the window still finds them and turns the nearest to bot."""
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    shared = Message("spring", "erin", "c", "e")
    pasted = f"/c/{tokens.click_token(Click(shared, 1, 'https://shop.example/1'))}"
    other = f"/c/{tokens.click_token(Click(shared, 2, 'https://shop.example/2'))}"
    people = [came_from(f"81.2.{n}.160", PERSON["User-Agent"]) for n in range(30)]
    for headers in people:  # thirty people, a tenth of a second apart, one link
        await client.get(pasted, headers=headers, allow_redirects=False)
        clock.advance(seconds=0.1)
    clock.advance(seconds=0.5)
    await client.get(other, headers=people[0], allow_redirects=False)
    clock.advance(seconds=5)
    await client.get(pasted, headers=people[1], allow_redirects=False)  # alone in its window
    clock.advance(seconds=1)
    await client.get(pasted, headers=people[2], allow_redirects=False)  # the other link is 6 s off

    stored = table(rows, "SELECT link, verdict, reasons FROM hits ORDER BY id")
    assert len(stored) == 33
    within = [row for row in stored[:30] if row[1] == "bot"]
    # the pasted clicks of the last 2 seconds before the other link: 2.5 s - 0.6 s ...
    assert len(within) == 15 and all(r == "proximity" for _, _, r in within)
    assert [row[1] for row in stored[:15]] == ["human"] * 15
    assert stored[30] == (2, "bot", "proximity")
    assert stored[31][1:] == ("human", "") and stored[32][1:] == ("human", "")


async def test_head_and_crawlers_are_bots_and_every_hit_is_kept(
    client: TestClient, tokens: Tokens, rows: Rows
) -> None:
    pixel = f"/o/{tokens.open_token(Message('spring', 'erin', 'c', 'e'))}.gif"
    await client.head(pixel)
    await client.get(pixel, headers={"User-Agent": "curl/8.5.0"})
    await client.get(pixel, headers={"User-Agent": ""})
    stored = table(rows, "SELECT method, verdict, reasons, device FROM hits ORDER BY id")
    assert stored == [
        ("HEAD", "bot", "method", "desktop"),
        ("GET", "bot", "user_agent", "bot"),
        ("GET", "bot", "user_agent", "bot"),
    ]


def test_signals_can_be_switched_off(tmp_path: Any) -> None:
    from tracker.config import ConfigError, load

    assert load(env={"TRACKER_SIGNALS": "none"}).signals == ()
    assert load(env={"TRACKER_SIGNALS": "method,honeypot"}).signals == ("method", "honeypot")
    for bad in ({"TRACKER_SIGNALS": "astrology"}, {"TRACKER_PROXIMITY_SECONDS": "5"}):
        try:
            load(env=bad)
        except ConfigError as exc:
            assert next(iter(bad)).removeprefix("TRACKER_").lower() in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
    assert sqlite3.sqlite_version  # the verdict queries need SQLite's partial indexes


async def test_rescore_after_a_new_network_list_flips_past_hits_and_reports_follow(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    listed = replace(settings, netlists_dir=str(lists))
    clock = Clock()
    client = await app_client(aiohttp_client, listed, clock)
    scanner = came_from("198.51.100.7", GATEWAY_UA)
    for n, who in enumerate(("gina", "hal")):
        clock.advance(minutes=1)
        link = Click(Message("spring", who, "c", "e"), n, f"https://shop.example/{n}")
        await client.get(f"/c/{tokens.click_token(link)}", headers=scanner, allow_redirects=False)
    pixel = f"/o/{tokens.open_token(Message('spring', 'frank', 'c', 'e'))}.gif"
    await client.get(pixel, headers=scanner)  # the scanner's open comes first...
    clock.advance(hours=2)
    await client.get(pixel, headers=came_from(HOME, PERSON["User-Agent"]))  # ...then frank's
    before = await stats(client, auth)
    assert (before["clicks"], before["opened"], before["bots"]["bot_clicks"]) == (2, 1, 0)

    # The operator learns that 198.51.100.0/24 is a scanner and adds a list.
    (lists / "scanner.txt").write_text("# verdict: bot\n# routes: open, click\n198.51.100.0/24\n")
    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    monkeypatch.setenv("TRACKER_NETLISTS_DIR", str(lists))
    result = await asyncio.to_thread(CliRunner().invoke, main, ["rescore", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Judged 4 hits again in [\d.]+ s; 3 verdicts changed\.", result.output)

    after = await stats(client, auth)
    assert (after["clicks"], after["opened"]) == (0, 1)
    assert after["bots"] == {"proxy_opens": 0, "machine_opens": 0, "bot_opens": 1, "bot_clicks": 2}
    assert table(rows, "SELECT verdict, reasons FROM hits ORDER BY id") == [
        ("bot", "net:scanner"),
        ("bot", "net:scanner"),
        ("bot", "net:scanner"),
        ("human", ""),
    ]
    opened = table(rows, "SELECT hit_id, verdict FROM events WHERE type = 'opened' ORDER BY id")
    assert opened == [(3, "bot"), (4, "human")], "frank's own open is now his Opened"

    again = await asyncio.to_thread(CliRunner().invoke, main, ["rescore"])
    assert re.search(r"Judged 4 hits again in [\d.]+ s; 0 verdicts changed\.", again.output)
    assert await stats(client, auth) == after


# Gmail's and Yahoo's image proxies fetch the pixel when the person opens the message.
GMAIL_PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY_UA = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
GMAIL_PROXY = "66.249.84.20"  # Google's network: the image proxy


async def sent_and_delivered(client: TestClient, auth: dict[str, str], clock: Clock,
                             *recipients: str) -> None:  # fmt: skip
    events = []
    for who in recipients:
        for kind in ("sent", "delivered"):
            events.append({"id": f"{kind}-{who}", "type": kind, "delivery": "spring",
                           "recipient": who, "at": iso(clock())})  # fmt: skip
    resp = await client.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200


async def test_a_gmail_reader_s_open_through_the_proxy_and_click_are_a_person_s(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    await sent_and_delivered(client, auth, clock, "ivy")
    message = Message("spring", "ivy", "c", "e")
    clock.advance(hours=2)  # ivy opens the message: Gmail's proxy fetches the pixel
    resp = await client.get(
        f"/o/{tokens.open_token(message)}.gif", headers=came_from(GMAIL_PROXY, GMAIL_PROXY_UA)
    )
    assert resp.status == 200 and resp.content_type == "image/gif"
    # She opens it again: Gmail shows its cached copy, no request reaches the server.
    clock.advance(minutes=3)  # then she clicks, in her browser
    link = Click(message, 1, "https://shop.example/1")
    resp = await client.get(
        f"/c/{tokens.click_token(link)}",
        headers=came_from(HOME, GATEWAY_UA),
        allow_redirects=False,
    )
    assert resp.status == 302

    people = await stats(client, auth)
    assert (people["opened"], people["clicks"], people["unique_clickers"]) == (1, 1, 1)
    assert people["rates"]["open"] == 1.0
    assert people["bots"]["machine_opens"] == 0
    stored = table(rows, "SELECT route, verdict, reasons, client, device FROM hits ORDER BY id")
    assert stored == [
        ("open", "human", "image_proxy,net:image-proxies", "Gmail", "proxy"),
        ("click", "human", "", "Chrome", "desktop"),
    ]
    events = table(rows, "SELECT type, verdict FROM events WHERE hit_id IS NOT NULL ORDER BY id")
    assert events == [("opened", "human"), ("clicked", "human")]
    resp = await client.get("/api/v1/deliveries/spring/logs?type=opened", headers=auth)
    (logged,) = (await resp.json())["items"]
    assert (logged["verdict"], logged["reasons"]) == ("human", ["image_proxy", "net:image-proxies"])


async def test_a_proxy_fetch_at_delivery_and_a_proxy_s_click_are_still_machines(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    await sent_and_delivered(client, auth, clock, "jack", "kim")
    jack, kim = Message("spring", "jack", "c", "e"), Message("spring", "kim", "c", "e")
    clock.advance(seconds=2)  # a scan at delivery through the same proxy
    await client.get(f"/o/{tokens.open_token(jack)}.gif", headers=came_from(HOME, YAHOO_PROXY_UA))
    clock.advance(hours=1)  # a proxy never clicks: a click saying it is one is a machine's
    link = Click(kim, 0, "https://shop.example/0")
    await client.get(
        f"/c/{tokens.click_token(link)}",
        headers=came_from(HOME, GMAIL_PROXY_UA),
        allow_redirects=False,
    )
    clock.advance(hours=1)  # Apple's proxy, hours later, is still a machine's open
    await client.get(f"/o/{tokens.open_token(kim)}.gif", headers=came_from(APPLE, APPLE_MPP_UA))

    stored = table(rows, "SELECT recipient, verdict, reasons, client FROM hits ORDER BY id")
    assert stored == [
        ("jack", "machine_open", "after_send,image_proxy", "Yahoo Mail"),
        ("kim", "bot", "image_proxy", "Gmail"),
        ("kim", "machine_open", "unknown_agent,net:apple-mpp", "Other"),
    ]
    people = await stats(client, auth)
    assert (people["opened"], people["clicks"]) == (0, 0)
    assert people["bots"]["machine_opens"] == 2


def execute(settings: Settings, sql: str, *params: Any) -> None:
    """Write to the test's database directly, as a previous version of tracker left it."""
    if settings.database_url:
        pgserver.query(settings.database_url, sql, *params)
        return
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


async def test_rescore_brings_the_opens_of_gmail_and_yahoo_readers_back(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    client = await app_client(aiohttp_client, settings, clock)
    await sent_and_delivered(client, auth, clock, "lena", "mona")
    clock.advance(hours=3)
    for who, headers in (("lena", came_from(GMAIL_PROXY, GMAIL_PROXY_UA)),
                         ("mona", came_from("98.137.11.9", YAHOO_PROXY_UA))):  # fmt: skip
        resp = await client.get(
            f"/o/{tokens.open_token(Message('spring', who, 'c', 'e'))}.gif", headers=headers
        )
        assert resp.status == 200
    # The previous version judged these opens machine opens, under the machines' Opened
    # key, with ua-parser's names for the proxies: set the rows as it left them.
    old = {"Gmail": "GmailImageProxy", "Yahoo Mail": "YahooMailProxy"}
    for hit in rows("SELECT id, recipient, reasons, client FROM hits ORDER BY id"):
        execute(settings, "UPDATE hits SET verdict = 'machine_open', client = ? WHERE id = ?",
                old.get(hit["client"], hit["client"]), hit["id"])  # fmt: skip
        key = dedupe_key(EventType.OPENED, "spring", hit["recipient"], "c", "e", machine=True)
        execute(settings, "UPDATE events SET verdict = 'machine_open', dedupe = ? WHERE hit_id = ?",
                key, hit["id"])  # fmt: skip
    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    monkeypatch.setenv("TRACKER_FORGET_KEY", settings.forget_key)
    run = await asyncio.to_thread(CliRunner().invoke, main, ["workflow", "run"])
    assert run.exit_code == 0, run.output
    before = await stats(client, auth)
    assert (before["opened"], before["bots"]["machine_opens"]) == (0, 2)

    result = await asyncio.to_thread(CliRunner().invoke, main, ["rescore"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Judged 2 hits again in [\d.]+ s; 2 verdicts changed\.", result.output)

    after = await stats(client, auth)
    assert (after["opened"], after["rates"]["open"]) == (2, 1.0)
    assert after["bots"] == {"proxy_opens": 2, "machine_opens": 0, "bot_opens": 0, "bot_clicks": 0}
    assert table(rows, "SELECT recipient, verdict, client, device FROM hits ORDER BY id") == [
        ("lena", "human", "Gmail", "proxy"),
        ("mona", "human", "Yahoo Mail", "proxy"),
    ]
    opened = table(rows, "SELECT recipient, verdict FROM events WHERE type = 'opened' ORDER BY 1")
    assert opened == [("lena", "human"), ("mona", "human")]
    run = await asyncio.to_thread(CliRunner().invoke, main, ["workflow", "run"])
    assert run.exit_code == 0, run.output
    assert await stats(client, auth) == after
