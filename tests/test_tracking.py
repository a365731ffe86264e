"""The open pixel and the click redirect, over real HTTP on a real SQLite file."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from itsdangerous.encoding import base64_decode, base64_encode

from tests.conftest import NEW_KEY, Rows
from tests.helpers import inflating_token
from tracker.routes.tracking import PIXEL
from tracker.tokens import SALT_CLICK, SALT_OPEN, Click, Message, Tokens


async def test_pixel_answers_gif_and_logs_one_opened(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    url = f"/o/{tokens.open_token(message)}.gif"
    for _ in range(3):
        resp = await client.get(url, headers={"User-Agent": "Mozilla/5.0 Thunderbird"})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/gif"
        assert "no-store" in resp.headers["Cache-Control"]
        assert await resp.read() == PIXEL
    opened = rows("SELECT * FROM events WHERE type = 'opened'")
    assert len(opened) == 1
    assert opened[0]["recipient"] == "recipient-1"
    hits = rows("SELECT * FROM hits WHERE route = 'open'")
    assert len(hits) == 3, "every hit stays in the raw log"
    assert hits[0]["user_agent"] == "Mozilla/5.0 Thunderbird"
    assert hits[0]["ip"] == "127.0.0.0", "IPv4 is cut to its /24"


async def test_same_email_twice_to_one_person_by_one_campaign_is_one_opened(
    client: TestClient, tokens: Tokens, rows: Rows
) -> None:
    first = Message("delivery-a", "r", "campaign", "email")
    second = Message("delivery-b", "r", "campaign", "email")
    other_campaign = Message("delivery-c", "r", "campaign-2", "email")
    for m in (first, second, other_campaign):
        assert (await client.get(f"/o/{tokens.open_token(m)}.gif")).status == 200
    opened = rows("SELECT delivery, campaign FROM events WHERE type = 'opened' ORDER BY id")
    assert opened == [
        {"delivery": "delivery-a", "campaign": "campaign"},
        {"delivery": "delivery-c", "campaign": "campaign-2"},
    ]


async def test_bad_pixel_token_answers_gif_and_logs_nothing(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    good = tokens.open_token(message)
    for path in (f"/o/{good[:-2]}.gif", "/o/garbage.gif", "/o/", "/o/a/b/c", f"/o/{good}"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert await resp.read() == PIXEL
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 0}]


async def test_head_on_pixel_is_kept_raw_but_never_opened(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    resp = await client.head(f"/o/{tokens.open_token(message)}.gif")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/gif"
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 0}]
    assert rows("SELECT method, outcome FROM hits") == [
        {"method": "HEAD", "outcome": "not_counted"}
    ]


async def test_click_redirects_and_logs_every_click(
    client: TestClient, click_token: str, rows: Rows
) -> None:
    for _ in range(3):
        resp = await client.get(f"/c/{click_token}", allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Location"] == "https://example.com/landing?a=1&b=2"
        assert "no-store" in resp.headers["Cache-Control"]
    clicked = rows("SELECT link, url FROM events WHERE type = 'clicked'")
    assert clicked == [{"link": 0, "url": "https://example.com/landing?a=1&b=2"}] * 3


async def test_head_on_click_redirects_but_logs_no_click(
    client: TestClient, click_token: str, rows: Rows
) -> None:
    resp = await client.head(f"/c/{click_token}", allow_redirects=False)
    assert resp.status == 302
    assert rows("SELECT count(*) AS n FROM events") == [{"n": 0}]
    assert rows("SELECT method FROM hits") == [{"method": "HEAD"}]


async def test_tampered_click_token_is_404_without_location(
    client: TestClient, click_token: str, tokens: Tokens, message: Message, rows: Rows
) -> None:
    payload, signature = click_token.rsplit(".", 1)
    flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    candidates = [
        f"{flipped}.{signature}",
        click_token[:-1],
        click_token + "x",
        click_token[: len(click_token) // 2],
        f"{payload}.{signature[::-1]}",
        tokens.open_token(message),  # an open token is not a click token
        tokens.unsubscribe_token(message),
    ]
    for token in candidates:
        resp = await client.get(f"/c/{token}", allow_redirects=False)
        assert resp.status == 404, token
        assert "Location" not in resp.headers
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]


async def test_token_signed_by_a_retired_but_configured_key_still_redirects(
    client: TestClient, message: Message
) -> None:
    old = Tokens(["signing-key-old-at-least-32-characters"]).click_token(
        Click(message, 1, "https://old.example/")
    )
    resp = await client.get(f"/c/{old}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://old.example/"
    unknown = Tokens(["not-a-key-of-ours"]).click_token(Click(message, 1, "https://x.example/"))
    assert (await client.get(f"/c/{unknown}", allow_redirects=False)).status == 404


async def test_forwarded_for_is_ignored_from_untrusted_peer(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    await client.get(
        f"/o/{tokens.open_token(message)}.gif", headers={"X-Forwarded-For": "203.0.113.77"}
    )
    assert rows("SELECT ip FROM hits") == [{"ip": "127.0.0.0"}]


async def test_any_change_of_the_decoded_payload_is_refused(
    client: TestClient, click_token: str, rows: Rows
) -> None:
    """Flip each byte of the signed payload (after base64), keep the signature: always 404."""
    compressed = click_token.startswith(".")
    payload, signature = click_token.lstrip(".").rsplit(".", 1)
    raw = base64_decode(payload)
    for i in range(len(raw)):
        changed = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]
        token = ("." if compressed else "") + base64_encode(changed).decode() + "." + signature
        resp = await client.get(f"/c/{token}", allow_redirects=False)
        assert resp.status == 404, i
        assert "Location" not in resp.headers
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]


async def test_a_token_that_inflates_past_any_real_one_is_refused_like_a_bad_one(
    client: TestClient, message: Message, rows: Rows
) -> None:
    """Signed with the configured key, but its payload inflates to over 1 MB: the pixel
    records nothing and the link is 404, as for any bad token."""
    key = NEW_KEY  # the newest configured key
    pixel = await client.get(f"/o/{inflating_token(SALT_OPEN, *message.fields(), key=key)}.gif")
    assert pixel.status == 200
    assert await pixel.read() == PIXEL
    link = inflating_token(SALT_CLICK, *message.fields(), 0, "https://example.com/", key=key)
    click = await client.get(f"/c/{link}", allow_redirects=False)
    assert click.status == 404
    assert "Location" not in click.headers
    assert rows("SELECT * FROM hits") == []
    assert rows("SELECT * FROM events") == []
