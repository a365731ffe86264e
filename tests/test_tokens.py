"""Tokens: self-contained, signed, one purpose each, key rotation, http(s) targets only."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from tests.helpers import inflating_token
from tracker.tokens import (
    MAX_ID_LENGTH,
    MAX_LINKS,
    MAX_TOKEN_LENGTH,
    SALT_CLICK,
    SALT_OPEN,
    BadToken,
    Click,
    Message,
    Tokens,
)
from tracker.urls import MAX_URL_LENGTH

MESSAGE = Message("2026-11-spring-sale", "customer-000123456", "spring-2026", "spring-email-v3")
URL_100 = (
    "https://shop.example.com/collections/spring-sale/products/linen-shirt"
    "?utm_source=email&utm_medium=x1"
)


def test_round_trip_of_every_purpose() -> None:
    tokens = Tokens(["k"])
    assert tokens.read_open(tokens.open_token(MESSAGE)) == MESSAGE
    assert tokens.read_unsubscribe(tokens.unsubscribe_token(MESSAGE)) == MESSAGE
    assert tokens.read_view(tokens.view_token(MESSAGE)) == MESSAGE
    click = Click(MESSAGE, 7, URL_100)
    assert tokens.read_click(tokens.click_token(click)) == click


def test_tokens_are_url_safe_and_short() -> None:
    assert len(URL_100) == 100
    token = Tokens(["k"]).click_token(Click(MESSAGE, 3, URL_100))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    # 100-character URL + 63 characters of ids, uncompressed: measured 270 characters.
    assert len(token) <= 275
    assert not token.startswith(".")


def test_long_payloads_are_compressed_and_read_by_itsdangerous() -> None:
    long_message = Message("a" * 256, "b" * 256, "c" * 256, "d" * 256)
    token = Tokens(["k"]).open_token(long_message)
    assert token.startswith(".")  # zlib, as itsdangerous marks it
    assert len(token) < 200
    assert Tokens(["k"]).read_open(token) == long_message
    short = Tokens(["k"]).click_token(Click(MESSAGE, 3, URL_100))
    assert URLSafeSerializer(["k"], salt=SALT_CLICK).loads(short)[5] == URL_100


def test_one_purpose_never_verifies_as_another() -> None:
    tokens = Tokens(["k"])
    open_token = tokens.open_token(MESSAGE)
    unsubscribe_token = tokens.unsubscribe_token(MESSAGE)
    click_token = tokens.click_token(Click(MESSAGE, 0, URL_100))
    with pytest.raises(BadToken):
        tokens.read_click(open_token)
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(open_token)
    with pytest.raises(BadToken):
        tokens.read_open(unsubscribe_token)
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(click_token)


def test_newest_key_signs_and_every_key_verifies() -> None:
    old, rotated = Tokens(["old"]), Tokens(["old", "new"])
    legacy = old.click_token(Click(MESSAGE, 0, URL_100))
    assert rotated.read_click(legacy).url == URL_100
    fresh = rotated.click_token(Click(MESSAGE, 0, URL_100))
    assert Tokens(["new"]).read_click(fresh).url == URL_100
    with pytest.raises(BadToken):
        old.read_click(fresh)
    with pytest.raises(BadToken):
        Tokens(["other"]).read_click(legacy)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "//evil.example/",
        "/relative",
        "http://",
        "https://exa mple.com/",
        "https://example.com/\r\nSet-Cookie: x=1",
        "ftp://example.com/",
        "https://example.com:99999/",
    ],
    ids=lambda u: u[:20],
)
def test_only_http_targets_can_be_signed(url: str) -> None:
    with pytest.raises(ValueError):
        Tokens(["k"]).click_token(Click(MESSAGE, 0, url))


def test_non_ascii_target_is_signed_in_the_form_location_carries() -> None:
    tokens = Tokens(["k"])
    token = tokens.click_token(Click(MESSAGE, 0, "https://exämple.com/café"))
    assert tokens.read_click(token).url == "https://xn--exmple-cua.com/caf%C3%A9"


@pytest.mark.parametrize(
    "token",
    ["", ".", "a.b", "x" * (MAX_TOKEN_LENGTH + 1), "é.é", "\x00", "eyJhIjoxfQ.sig"],
    ids=["empty", "dot", "two", "overlong", "non-ascii", "nul", "unsigned"],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(BadToken):
        Tokens(["k"]).read_click(token)


def test_ids_must_fit() -> None:
    with pytest.raises(ValueError):
        Tokens(["k"]).open_token(Message("", "r", "c", "e"))
    with pytest.raises(ValueError):
        Tokens(["k"]).open_token(Message("d" * 300, "r", "c", "e"))


def test_an_id_holding_nul_is_neither_signed_nor_read() -> None:
    """No database's text can hold NUL: such an id is refused at both ends."""
    with pytest.raises(ValueError):
        Tokens(["k"]).open_token(Message("d", "r\x00", "c", "e"))
    forged = Tokens(["k"])._open.dumps(["d", "r\x00", "c", "e"])
    with pytest.raises(BadToken):
        Tokens(["k"]).read_open(forged)


def test_the_largest_real_payload_still_verifies() -> None:
    """Four ids of 256 characters that JSON writes as 12 bytes each, and a 2,048-character
    URL of quotes (2 bytes each): what the inflation cap must leave room for."""
    astral = "\U0001f600" * MAX_ID_LENGTH
    message = Message(astral, astral, astral, astral)
    url = "https://shop.example/" + '"' * (MAX_URL_LENGTH - 21)
    tokens = Tokens(["k"])
    click = Click(message, MAX_LINKS - 1, url)
    assert tokens.read_click(tokens.click_token(click)) == click
    assert tokens.read_open(tokens.open_token(message)) == message


def test_a_payload_that_inflates_past_any_real_token_is_refused() -> None:
    tokens = Tokens(["k"])
    with pytest.raises(BadToken):
        tokens.read_open(inflating_token(SALT_OPEN, *MESSAGE.fields()))
    with pytest.raises(BadToken):
        tokens.read_click(inflating_token(SALT_CLICK, *MESSAGE.fields(), 0, URL_100))
