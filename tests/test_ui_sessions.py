"""Dashboard sessions: kept in the store, bound to the key that made them, ended by logout
and by the key's removal; failed logins throttled per client; login and logout refuse
other sites' forms."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner

from tests.conftest import API_KEY, BASE_URL, Rows
from tests.helpers import Clock, trusting_app
from tracker.app import create_app
from tracker.config import Settings
from tracker.store.sqlite.store import SQLiteStore

OTHER_KEY = "second-api-key-at-least-32-characters"


async def log_in(client: TestClient, key: str = API_KEY, **headers: str) -> str:
    resp = await client.post("/ui/login", data={"key": key}, headers=headers, allow_redirects=False)
    assert resp.status == 303, resp.status
    return resp.cookies["tracker_ui"].value


async def page_status(client: TestClient, cookie: str) -> int:
    """What ``GET /ui/`` answers with only ``cookie`` (200: signed in; 303: to the login)."""
    client.session.cookie_jar.clear()
    resp = await client.get(
        "/ui/", headers={"Cookie": f"tracker_ui={cookie}"}, allow_redirects=False
    )
    return resp.status


async def test_logout_ends_the_session_in_the_store(
    aiohttp_client: Any, settings: Settings, rows: Rows
) -> None:
    client = await aiohttp_client(create_app(settings))
    cookie = await log_in(client)
    assert await page_status(client, cookie) == 200
    stored = rows("SELECT * FROM ui_sessions")
    assert len(stored) == 1
    assert cookie not in str(stored) and API_KEY not in str(stored), "neither kept in the clear"

    resp = await client.post(
        "/ui/logout", headers={"Cookie": f"tracker_ui={cookie}"}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    assert rows("SELECT * FROM ui_sessions") == []
    assert await page_status(client, cookie) == 303, "a copy of the cookie no longer works"


async def test_removing_or_changing_a_key_ends_its_sessions_only(
    aiohttp_client: Any, settings: Settings
) -> None:
    first = await aiohttp_client(create_app(settings))
    by_first_key = await log_in(first, API_KEY)
    by_second_key = await log_in(first, OTHER_KEY)
    await first.close()

    # The first key is replaced in its place: the cookie's old index would still match.
    changed = replace(
        settings, api_keys=("a-new-key-in-the-first-place-of-32-characters", OTHER_KEY)
    )
    second = await aiohttp_client(create_app(changed))
    assert await page_status(second, by_first_key) == 303, "the changed key's session ended"
    assert await page_status(second, by_second_key) == 200, "the other key's session lives"
    await second.close()

    # Putting the key back does not bring its session back: it was ended for good.
    third = await aiohttp_client(create_app(settings))
    assert await page_status(third, by_first_key) == 303


async def test_secret_keys_alone_cannot_make_a_session(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    await log_in(client)  # a real session exists beside the forged ones
    for key in settings.secret_keys:
        for salt in ("tracker.ui.session.v1", "tracker.ui.session.v2"):
            forged = TimestampSigner(key, salt=salt).sign("0").decode()
            assert await page_status(client, forged) == 303
    assert await page_status(client, "") == 303


async def test_failed_logins_are_throttled_per_anonymised_client(
    aiohttp_client: Any, settings: Settings, rows: Rows
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(10):
        resp = await client.post("/ui/login", data={"key": "wrong"}, headers=attacker)
        assert resp.status == 403
    stored = rows("SELECT * FROM ui_login_failures")
    assert len(stored) == 10 and "203.0.113.9" not in str(stored), "kept anonymised"

    clock.advance(minutes=5)
    neighbour = {"X-Forwarded-For": "203.0.113.77"}  # same /24: the same anonymised client
    for headers, key in ((attacker, "wrong"), (attacker, API_KEY), (neighbour, API_KEY)):
        resp = await client.post(
            "/ui/login", data={"key": key}, headers=headers, allow_redirects=False
        )
        assert resp.status == 429, "even the right key waits"
        assert 0 < int(resp.headers["Retry-After"]) <= 15 * 60
        assert "tracker_ui" not in resp.cookies
    await log_in(client, **{"X-Forwarded-For": "198.51.100.4"})  # another client is not held

    clock.advance(minutes=10, seconds=1)  # the first failures are now 15 minutes old
    await log_in(client, **attacker)


async def test_login_and_logout_refuse_other_sites(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    own = str(client.make_url("")).rstrip("/")
    refused: list[dict[str, str]] = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": BASE_URL + ".evil.example"},
        {"Referer": "https://evil.example/page"},
    ]
    for headers in refused:
        resp = await client.post(
            "/ui/login", data={"key": API_KEY}, headers=headers, allow_redirects=False
        )
        assert resp.status == 403, headers
        assert "tracker_ui" not in resp.cookies
    allowed: list[dict[str, str]] = [
        {"Origin": BASE_URL},  # the public origin
        {"Origin": own},  # the address the browser used (its Host)
        {"Referer": f"{own}/ui/login"},
        {},  # not a browser's form: no site to forge it from
    ]
    for headers in allowed:
        await log_in(client, **headers)

    cookie = await log_in(client)
    session = {"Cookie": f"tracker_ui={cookie}"}
    resp = await client.post(
        "/ui/logout",
        headers={**session, "Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert await page_status(client, cookie) == 200, "another site cannot log you out"
    resp = await client.post(
        "/ui/logout", headers={**session, "Origin": own}, allow_redirects=False
    )
    assert resp.status == 303
    assert await page_status(client, cookie) == 303


async def test_a_failing_store_answers_503_and_the_server_still_starts(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "failing.db", fault_rate=1.0)  # every write fails
    client = await aiohttp_client(create_app(settings, store=store))
    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert "tracker_ui" not in resp.cookies
    resp = await client.post("/ui/login", data={"key": "wrong"}, allow_redirects=False)
    assert resp.status == 503
