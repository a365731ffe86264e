"""Numbers in query strings: ASCII digits in range, else a 400 that says which one."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import API_KEY

# Digits Python's isdigit() accepts but int() does not, values past int()'s digit limit,
# past a 64-bit column, and forms that are not plain digits.
BAD = ["²", "١٢", "1" * 5000, "9" * 20, "18446744073709551616", "-1", "+1", " 1", "1_0", "0x1"]

API = [
    ("/api/v1/events", "after"),
    ("/api/v1/events", "limit"),
    ("/api/v1/deliveries/d/logs", "after"),
    ("/api/v1/deliveries/d/logs", "link"),
    ("/api/v1/deliveries/d/logs", "limit"),
    ("/api/v1/recipients/r/tracking", "limit"),
]


async def known_delivery(client: TestClient, auth: dict[str, str]) -> None:
    """Announce delivery ``d`` (an unknown delivery is a 404 before any number is read)."""
    sent = [{"id": "s1", "type": "sent", "delivery": "d", "recipient": "r"}]
    resp = await client.post("/api/v1/events", json=sent, headers=auth)
    assert resp.status == 200


async def test_the_api_answers_400_naming_the_number(
    client: TestClient, auth: dict[str, str]
) -> None:
    await known_delivery(client, auth)
    for path, name in API:
        assert (await client.get(path, params={name: "1"}, headers=auth)).status == 200
        for value in BAD:
            resp = await client.get(path, params={name: value}, headers=auth)
            assert resp.status == 400, (path, name, value[:20], resp.status)
            body = await resp.json()
            assert body["error"] == "bad_request" and name in body["message"], body
    # Link numbers stop at 99,999 (a 32-bit column on PostgreSQL would overflow later).
    logs = "/api/v1/deliveries/d/logs"
    assert (await client.get(logs, params={"link": "99999"}, headers=auth)).status == 200
    for value in ("100000", "4294967296"):
        resp = await client.get(logs, params={"link": value}, headers=auth)
        assert resp.status == 400 and "link" in (await resp.json())["message"]


async def test_the_dashboard_answers_a_400_page(client: TestClient, auth: dict[str, str]) -> None:
    await known_delivery(client, auth)
    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 303
    path = "/ui/deliveries/d"
    assert (await client.get(path, params={"tab": "logs", "after": "7"})).status == 200
    for value in BAD:
        resp = await client.get(path, params={"tab": "logs", "after": value})
        assert resp.status == 400, (value[:20], resp.status)
        assert resp.content_type == "text/html"
        assert "after" in await resp.text()
