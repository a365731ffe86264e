"""The client's address through trusted proxies, and its anonymised form."""

from __future__ import annotations

import gc
import ipaddress
import tracemalloc
from dataclasses import replace
from typing import Any

import pytest
from multidict import CIMultiDict

from tests.conftest import PERSON, Rows
from tracker.app import create_app
from tracker.clientip import AddressResolver, anonymise, client_address
from tracker.config import Network, Settings
from tracker.tokens import Message, Tokens

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("198.51.100.7", "203.0.113.9", (), "198.51.100.7"),
        ("198.51.100.7", "203.0.113.9", PROXIES, "198.51.100.7"),
        ("10.0.0.2", "203.0.113.9", PROXIES, "203.0.113.9"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.5", PROXIES, "203.0.113.9"),
        ("10.0.0.2", "garbage", PROXIES, "10.0.0.2"),
        ("10.0.0.2", None, PROXIES, "10.0.0.2"),
        (None, "203.0.113.9", PROXIES, None),
    ],
    ids=[
        "no-proxies",
        "untrusted-peer",
        "trusted",
        "rightmost-untrusted",
        "garbage",
        "no-xff",
        "no-peer",
    ],
)
def test_client_address(
    peer: str | None, xff: str | None, trusted: tuple[object, ...], expected: str | None
) -> None:
    address = client_address(peer, xff, trusted)  # type: ignore[arg-type]
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("2002:c633:6417::1", "198.51.100.0"),  # 6to4 of 198.51.100.23
        ("2002:c633:6417:1234:5678::9", "198.51.100.0"),
        ("2001:0:4136:e378:8000:63bf:3cde:9be8", "195.33.100.0"),  # Teredo: 195.33.100.23
        ("64:ff9b::c633:6417", "198.51.100.0"),  # NAT64
        ("::c633:6417", "198.51.100.0"),  # IPv4-compatible
        ("::1", "::"),
        ("2001:db8::c633:6417", "2001:db8::"),
    ],
    ids=[
        "ipv4",
        "ipv6",
        "ipv4-mapped",
        "6to4",
        "6to4-subnet",
        "teredo",
        "nat64",
        "ipv4-compatible",
        "loopback",
        "ipv6-ending-like-ipv4",
    ],
)
def test_anonymise_keeps_only_the_network(address: str, expected: str) -> None:
    assert anonymise(ipaddress.ip_address(address)) == expected


def test_anonymise_full_address_when_prefix_is_whole() -> None:
    assert anonymise(ipaddress.ip_address("203.0.113.77"), 32, 128) == "203.0.113.77"


# Hops a client can put in front of what the proxy appends: over 6 KB of them.
PADDING = ", ".join(f"192.0.2.{n % 250 + 1}" for n in range(550))


def test_padding_cannot_push_the_proxys_hop_out() -> None:
    xff = f"{PADDING}, 203.0.113.9"
    assert len(xff) > 6000
    assert str(client_address("10.0.0.2", xff, PROXIES)) == "203.0.113.9"
    chain = f"{PADDING}, 203.0.113.9, 10.0.0.5"  # two trusted proxies
    assert str(client_address("10.0.0.2", chain, PROXIES)) == "203.0.113.9"


async def test_a_padded_header_stores_the_address_the_proxy_appended(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, message: Message, rows: Rows
) -> None:
    """Through the server: a client's 6 KB of padding, then the hop its proxy appended, in
    one header line or in a line of the proxy's own after the client's."""
    trusting = replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    client = await aiohttp_client(create_app(trusting), headers=PERSON)
    path = f"/o/{tokens.open_token(message)}.gif"
    async with client.get(path, headers={"X-Forwarded-For": f"{PADDING}, 203.0.113.77"}) as resp:
        assert resp.status == 200
    two_lines = CIMultiDict([("X-Forwarded-For", PADDING), ("X-Forwarded-For", "198.51.100.9")])
    async with client.get(path, headers=two_lines) as resp:
        assert resp.status == 200
    stored = [r["ip"] for r in rows("SELECT ip FROM hits ORDER BY id")]
    assert stored == ["203.0.113.0", "198.51.100.0"]


@pytest.mark.parametrize("trusted", [(), PROXIES], ids=["no-proxies", "trusted-proxy"])
def test_the_address_cache_does_not_keep_header_bytes(trusted: tuple[Network, ...]) -> None:
    """1,500 different 8 KB X-Forwarded-For headers (what a client can vary at will) from
    one peer leave the cache of answers about as small as one header would."""
    resolver = AddressResolver(trusted)

    def header(n: int) -> str:  # a new string each time, as each request brings its own
        return f"{PADDING[: 8000 - 40]}, 198.18.{n // 256}.{n % 256}, 203.0.113.9"

    expected = "203.0.113.0" if trusted else "10.0.0.0"
    assert resolver.resolve("10.0.0.2", header(0)) == expected  # warm up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        answers = {resolver.resolve("10.0.0.2", header(n)) for n in range(1, 1501)}
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert answers == {expected}
    assert grown < 256 * 1024, f"{grown / 1e6:.1f} MB kept for 1,500 headers"
