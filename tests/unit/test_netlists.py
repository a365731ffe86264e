"""tracker.netlists alone: list files read, replaced or added, and anonymised addresses
matched against them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tracker.events import Route
from tracker.netlists import NetList, NetListError, NetMatcher, load_lists, parse_list


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_list_s_header_names_its_verdict_and_routes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scanners.txt",
        "# name: scanners\n# verdict: machine_open\n# routes: open\n# a comment: ignored\n"
        "\n192.0.2.0/24\n  2001:db8::/32  \n198.51.100.7\n",
    )
    listed = parse_list(path)
    assert (listed.name, listed.verdict, listed.routes) == (
        "scanners",
        "machine_open",
        frozenset({Route.OPEN}),
    )
    assert [str(n) for n in listed.networks] == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]


def test_without_a_header_a_list_is_bots_on_opens_and_clicks_named_for_its_file(
    tmp_path: Path,
) -> None:
    listed = parse_list(write(tmp_path, "mine.txt", "10.0.0.0/8\n"))
    assert (listed.name, listed.verdict) == ("mine", "bot")
    assert listed.routes == frozenset({Route.OPEN, Route.CLICK})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.0.2.0/24\nnot-a-network\n", r"bad\.txt:2: not a CIDR network: 'not-a-network'"),
        ("# verdict: maybe\n", "verdict must be one of bot, machine_open, proxy"),
        ("# routes: open, bounce\n", "routes are open and/or click"),
    ],
)
def test_a_bad_file_is_named_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(NetListError, match=message):
        parse_list(write(tmp_path, "bad.txt", text))


def test_the_operator_s_lists_replace_or_join_the_shipped_ones(tmp_path: Path) -> None:
    shipped = {nl.name: nl for nl in load_lists()}
    assert {"apple-mpp", "image-proxies", "security-gateways"} <= set(shipped)
    assert all(nl.networks for nl in shipped.values())
    write(tmp_path, "apple-mpp.txt", "")  # switched off
    write(tmp_path, "extra.txt", "# verdict: bot\n203.0.113.0/24\n")
    mine = {nl.name: nl for nl in load_lists(str(tmp_path))}
    assert mine["apple-mpp"].networks == ()
    assert mine["extra"].networks and mine["security-gateways"] == shipped["security-gateways"]


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(NetListError, match="netlists_dir: not a directory"):
        load_lists(str(tmp_path / "nowhere"))


def test_a_stored_network_matches_every_list_it_overlaps() -> None:
    wide = NetList("wide", "bot", frozenset({Route.CLICK}), nets("192.0.2.0/23"))
    narrow = NetList("narrow", "proxy", frozenset({Route.OPEN}), nets("192.0.2.200/32"))
    v6 = NetList("v6", "bot", frozenset({Route.OPEN}), nets("2001:db8:1::/48"))
    empty = NetList("empty", "bot", frozenset({Route.OPEN}), ())
    matcher = NetMatcher([wide, narrow, v6, empty], 24, 48)
    # Stored addresses are anonymised to their /24 or /48: the network is what is matched.
    assert matcher.match("192.0.2.0") == (wide, narrow)
    assert matcher.match("192.0.3.0") == (wide,)
    assert matcher.match("198.51.100.0") == ()
    assert matcher.match("2001:db8:1::") == (v6,)
    assert matcher.match("2001:db8:2::") == ()
    assert matcher.match(None) == matcher.match("") == matcher.match("not an address") == ()
