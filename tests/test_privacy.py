"""Privacy by default: no full address stored or logged, forgetting, the kill switch,
anonymous campaigns, raw-hit retention and the address modes."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from tests.conftest import API_KEY, NEW_KEY, PERSON, Rows
from tests.helpers import Clock
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.app import create_app
from tracker.cli import main
from tracker.config import Settings
from tracker.keys import WORKFLOW
from tracker.routes.tracking import PIXEL
from tracker.tokens import Click, Message, Tokens

ADDRESSES = ["203.0.113.77", "198.51.100.203", "2001:db8:85a3:8d3:1319:8a2e:370:7348"]


def trusting(settings: Settings, **changes: Any) -> Settings:
    """Settings that take the client address from X-Forwarded-For sent by the test client."""
    proxies = (ipaddress.ip_network("127.0.0.1/32"),)
    return replace(settings, trusted_proxies=proxies, **changes)


def files_bytes(*paths: Path) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.exists())


def test_no_full_client_address_is_stored_or_logged(tmp_path: Path) -> None:
    env = clean_env(
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_SECRET_KEYS=NEW_KEY,
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
        TRACKER_LOG_LEVEL="debug",
        TRACKER_TRUSTED_PROXIES="127.0.0.1/32",
    )
    server = ServerProcess(tmp_path, env, free_port())
    tokens = Tokens([NEW_KEY])
    message = Message("d", "r", "c", "e")

    async def load() -> None:
        async with aiohttp.ClientSession(headers=PERSON) as session:
            for n, address in enumerate(ADDRESSES * 3):
                forwarded = {"X-Forwarded-For": address}
                base = server.base_url
                async with session.get(f"{base}/o/{tokens.open_token(message)}.gif",
                                       headers=forwarded) as resp:  # fmt: skip
                    assert await resp.read() == PIXEL
                click = tokens.click_token(Click(message, n % 3, "https://shop.example/"))
                async with session.get(f"{base}/c/{click}", headers=forwarded,
                                       allow_redirects=False) as resp:  # fmt: skip
                    assert resp.status == 302
                async with session.get(f"{base}/c/broken-{n}", headers=forwarded) as resp:
                    assert resp.status == 404
            async with session.post(f"{base}/u/{tokens.unsubscribe_token(message)}",
                                    data={"List-Unsubscribe": "One-Click"},
                                    headers={"X-Forwarded-For": ADDRESSES[0]}) as resp:  # fmt: skip
                assert resp.status == 200

    try:
        server.start()
        server.wait_healthy()
        asyncio.run(load())
    finally:
        server.signal(signal.SIGTERM)
        server.wait(timeout=10)
    data = tmp_path / "data"
    stored = files_bytes(data / "tracker.db", data / "tracker.db-wal", server.log_path)
    assert b"starting" in server.log_path.read_bytes(), "the log was searched"
    for address in ADDRESSES:
        assert address.encode() not in stored, f"{address} was written"
    assert b"203.0.113.0" in stored, "the network is kept"
    assert b"2001:db8:85a3::" in stored


async def test_forget_leaves_no_row_naming_the_person_yet_keeps_them_unmailable(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await aiohttp_client(create_app(settings), headers=PERSON)
    zoe = Message("spring", "zoe-7f3a9c", "c", "e")
    await client.post("/api/v1/events", headers=auth, json=[
        {"id": "z1", "type": "sent", "delivery": "spring", "recipient": "zoe-7f3a9c",
         "address": "zoe-7f3a9c@example.org"},
        {"id": "y1", "type": "hard_bounced", "delivery": "spring", "recipient": "yan-51c2e0",
         "category": "invalid", "reason": "550 5.1.1 yan-51c2e0: no such user"},
    ])  # fmt: skip
    await client.get(f"/o/{tokens.open_token(zoe)}.gif")
    await client.get(f"/c/{tokens.click_token(Click(zoe, 0, 'https://shop.example/'))}",
                     allow_redirects=False)  # fmt: skip
    resp = await client.post(f"/u/{tokens.unsubscribe_token(zoe)}", data={"confirm": "yes"})
    assert resp.status == 200

    on_sqlite = not settings.database_url  # the files are searched on SQLite's side
    if on_sqlite:
        db = settings.sqlite_path
        assert b"zoe-7f3a9c" in files_bytes(db, Path(f"{db}-wal")), "the search can find her"
    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    monkeypatch.setenv("TRACKER_FORGET_KEY", settings.forget_key)
    for person in ("zoe-7f3a9c", "yan-51c2e0"):
        result = await asyncio.to_thread(CliRunner().invoke, main, ["forget", person])
        assert result.exit_code == 0, result.output
        assert f"Forgot {person}:" in result.output

    for person in ("zoe-7f3a9c", "yan-51c2e0"):
        assert rows("SELECT id FROM hits WHERE recipient = ?", person) == []
        assert rows("SELECT id FROM events WHERE recipient = ?", person) == []
    if on_sqlite:
        on_disk = files_bytes(db, Path(f"{db}-wal"))
        for name in (b"zoe-7f3a9c", b"yan-51c2e0"):
            assert name not in on_disk, f"{name!r} is still in the database file"

    answers = await client.post(
        "/api/v1/mailable", json={"recipients": ["zoe-7f3a9c", "yan-51c2e0", "xavier"]},
        headers=auth,
    )  # fmt: skip
    results = (await answers.json())["results"]
    assert [(r["mailable"], r["reason"]) for r in results] == [
        (False, "unsubscribed"),
        (False, "invalid"),
        (True, None),
    ]


async def test_the_kill_switch_answers_as_always_and_records_nothing(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, message: Message, rows: Rows
) -> None:
    client = await aiohttp_client(create_app(replace(settings, tracking="off")), headers=PERSON)
    resp = await client.get(f"/o/{tokens.open_token(message)}.gif")
    assert resp.status == 200 and await resp.read() == PIXEL
    click = tokens.click_token(Click(message, 0, "https://shop.example/x"))
    resp = await client.get(f"/c/{click}", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "https://shop.example/x"
    assert rows("SELECT id FROM hits") == [] and rows("SELECT id FROM events") == []
    resp = await client.post(f"/u/{tokens.unsubscribe_token(message)}", data={"confirm": "yes"})
    assert resp.status == 200
    assert [r["type"] for r in rows("SELECT type FROM events")] == ["unsubscribed"]


async def test_an_anonymous_campaign_keeps_counts_and_nothing_that_names_anyone(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    anonymous = trusting(settings, anonymous_campaigns=("census",))
    client = await aiohttp_client(create_app(anonymous), headers=PERSON)
    for who in ("ann", "ben", "ann"):
        message = Message("poll", who, "census", "e")
        headers = {"X-Forwarded-For": "203.0.113.7"}
        await client.get(f"/o/{tokens.open_token(message)}.gif", headers=headers)
        click = tokens.click_token(Click(message, 0, "https://poll.example/"))
        await client.get(f"/c/{click}", headers=headers, allow_redirects=False)
    stored = rows("SELECT DISTINCT recipient, ip, user_agent, verdict FROM hits")
    assert stored == [{"recipient": "anonymous", "ip": None, "user_agent": "", "verdict": "human"}]
    stats = await (await client.get("/api/v1/deliveries/poll/stats", headers=auth)).json()
    assert (stats["opened"], stats["clicks"]) == (3, 3), "every open counts: nobody is told apart"


async def test_hits_past_retention_are_deleted_and_events_stay(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, rows: Rows
) -> None:
    clock = Clock()
    client = await aiohttp_client(create_app(settings, clock=clock), headers=PERSON)
    old = Message("d", "old", "c", "e")
    recent = Message("d", "recent", "c", "e")
    clock.now -= timedelta(days=401)
    await client.get(f"/o/{tokens.open_token(old)}.gif")
    clock.now += timedelta(days=400)
    await client.get(f"/o/{tokens.open_token(recent)}.gif")
    clock.now += timedelta(days=1)

    run = await client.app[WORKFLOW].run()  # the tracking workflow expires them
    assert run.expired == 1
    assert [r["recipient"] for r in rows("SELECT recipient FROM hits")] == ["recent"]
    assert len(rows("SELECT id FROM events WHERE type = 'opened'")) == 2
    assert (await client.app[WORKFLOW].run()).expired == 0


@pytest.mark.parametrize(("mode", "stored"), [("full", None), ("none", "203.0.113.77")])
async def test_address_modes(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    message: Message,
    rows: Rows,
    mode: str,
    stored: str | None,
) -> None:
    client = await aiohttp_client(create_app(trusting(settings, anonymise_ip=mode)))
    await client.get(f"/o/{tokens.open_token(message)}.gif",
                     headers={"X-Forwarded-For": "203.0.113.77"})  # fmt: skip
    assert rows("SELECT ip FROM hits") == [{"ip": stored}]


async def test_ipv6_forms_that_carry_an_ipv4_address_are_stored_as_its_network(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, rows: Rows
) -> None:
    """6to4, Teredo, NAT64 and IPv4-mapped addresses hold a whole IPv4 address past /48."""
    client = await aiohttp_client(create_app(trusting(settings)), headers=PERSON)
    forms = {
        "six": "2002:c633:6417::1",  # 6to4 of 198.51.100.23
        "ter": "2001:0:4136:e378:8000:63bf:3cde:9be8",  # Teredo client 195.33.100.23
        "nat": "64:ff9b::c633:6417",
        "map": "::ffff:198.51.100.23",
        "v6": "2001:db8:85a3:8d3::c633:6417",
    }
    for who, address in forms.items():
        message = Message("d", who, "c", "e")
        resp = await client.get(f"/o/{tokens.open_token(message)}.gif",
                                headers={"X-Forwarded-For": address})  # fmt: skip
        assert resp.status == 200
    stored = {r["recipient"]: r["ip"] for r in rows("SELECT recipient, ip FROM hits")}
    assert stored == {
        "six": "198.51.100.0",
        "ter": "195.33.100.0",
        "nat": "198.51.100.0",
        "map": "198.51.100.0",
        "v6": "2001:db8:85a3::",
    }
