"""tracker.urls alone: which targets may be signed, and their ASCII spelling."""

from __future__ import annotations

import pytest

from tracker.urls import MAX_URL_LENGTH, is_trackable_url, to_ascii


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "http://shop.example:8080/sale?a=1&b=2#top",
        "https://[2001:db8::1]/path",
        "https://xn--bcher-kva.example/",
    ],
)
def test_absolute_http_urls_with_a_host_are_trackable(url: str) -> None:
    assert is_trackable_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "mailto:help@example.com",
        "ftp://example.com/file",
        "/relative/path",
        "//example.com/no-scheme",
        "https:///no-host",
        "https://example.com:99999/bad-port",
        "https://example.com/a b",
        "https://example.com/\r\nSet-Cookie: x=1",
        "https://example.com\\@evil.example/",
        "https://bücher.example/",
        "https://example.com/\x7f",
    ],
)
def test_everything_else_is_not(url: str) -> None:
    assert not is_trackable_url(url)


def test_the_length_limit_is_inclusive() -> None:
    base = "https://example.com/"
    assert is_trackable_url(base + "a" * (MAX_URL_LENGTH - len(base)))
    assert not is_trackable_url(base + "a" * (MAX_URL_LENGTH - len(base) + 1))


def test_to_ascii_encodes_the_host_in_idna_and_the_rest_in_percent() -> None:
    assert to_ascii("https://bücher.example/straße?q=ä") == (
        "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4"
    )
    assert is_trackable_url(to_ascii("https://bücher.example/straße"))


def test_to_ascii_leaves_ascii_and_unconvertible_urls_alone() -> None:
    assert to_ascii("https://example.com/%zz?a=b c") == "https://example.com/%zz?a=b c"
    lone_surrogate = "https://example.com/\udc80"
    assert to_ascii(lone_surrogate) == lone_surrogate
