"""Unsubscribe: GET never unsubscribes; the form and RFC 8058 one-click POSTs do, once."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tracker.tokens import Message, Tokens


def unsubscribed(rows: Rows) -> list[dict[str, object]]:
    return rows("SELECT recipient, delivery FROM events WHERE type = 'unsubscribed'")


async def test_get_shows_a_form_and_logs_nothing(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    url = f"/u/{tokens.unsubscribe_token(message)}"
    for _ in range(3):
        resp = await client.get(url)
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.headers["Cache-Control"] == "no-store"
        page = await resp.text()
        assert '<form method="post"' in page
    assert (await client.head(url)).status == 200
    assert unsubscribed(rows) == []
    assert rows("SELECT method, outcome FROM hits") == [
        {"method": "GET", "outcome": "form"}
    ] * 3 + [{"method": "HEAD", "outcome": "form"}]


async def test_form_submit_logs_unsubscribed_once(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    url = f"/u/{tokens.unsubscribe_token(message)}"
    for _ in range(2):
        resp = await client.post(url, data={"confirm": "yes"})
        assert resp.status == 200
        assert "You are unsubscribed" in await resp.text()
    assert unsubscribed(rows) == [{"recipient": "recipient-1", "delivery": "delivery-1"}]


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_one_click_post_answers_200_and_logs(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows, encoding: str
) -> None:
    if encoding == "urlencoded":
        body: object = {"List-Unsubscribe": "One-Click"}
    else:
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("List-Unsubscribe", "One-Click")
        body = form
    resp = await client.post(
        f"/u/{tokens.unsubscribe_token(message)}", data=body, allow_redirects=False
    )
    assert resp.status == 200
    assert unsubscribed(rows) == [{"recipient": "recipient-1", "delivery": "delivery-1"}]
    assert rows("SELECT outcome FROM hits") == [{"outcome": "one_click"}]


async def test_bad_token_is_404_and_logs_nothing(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    open_token = tokens.open_token(message)  # another purpose's token
    for token in (open_token, "garbage", tokens.unsubscribe_token(message)[:-1]):
        assert (await client.get(f"/u/{token}")).status == 404
        resp = await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert resp.status == 404
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]


async def test_oversized_body_is_refused(
    client: TestClient, tokens: Tokens, message: Message, rows: Rows
) -> None:
    resp = await client.post(
        f"/u/{tokens.unsubscribe_token(message)}",
        data=b"List-Unsubscribe=One-Click&pad=" + b"x" * 200_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 413
    assert unsubscribed(rows) == []
