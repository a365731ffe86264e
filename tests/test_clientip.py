"""The client's address through trusted proxies, and its anonymised form."""

from __future__ import annotations

import ipaddress

import pytest

from tracker.clientip import anonymise, client_address

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
