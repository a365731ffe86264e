"""Network lists: CIDR files, each naming the verdict a match means and its routes.

A list is a text file of one CIDR per line, with ``#`` comments; its header says what a
match means::

    # name: security-gateways
    # verdict: bot
    # routes: open, click

Tracker ships defaults (``tracker/netlists/``, sources in each file). Files in the
configured ``netlists_dir`` are read after them: one with a default's name replaces it
(an empty file switches it off), others are added. Addresses are matched as stored, that
is anonymised (a /24 or /48 network): a stored network matches an entry it overlaps.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tracker.events import Route

DEFAULTS = Path(__file__).resolve().parent / "netlists"
# ``proxy``: a mail provider's image proxy that fetches when the person opens the message;
# a match is noted in the reasons and leaves the open a person's.
VERDICTS = ("bot", "machine_open", "proxy")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NetListError(ValueError):
    """A list file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class NetList:
    name: str
    verdict: str
    routes: frozenset[Route]
    networks: tuple[Network, ...]


def parse_list(path: Path) -> NetList:
    """Read one list file."""
    header = {"name": path.stem, "verdict": "bot", "routes": "open, click"}
    networks: list[Network] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            key, colon, value = line[1:].partition(":")
            if colon and key.strip() in header:
                header[key.strip()] = value.strip()
            continue
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            raise NetListError(f"{path}:{number}: not a CIDR network: {line!r}") from None
    if header["verdict"] not in VERDICTS:
        raise NetListError(f"{path}: verdict must be one of {', '.join(VERDICTS)}")
    try:
        routes = frozenset(Route(r.strip()) for r in header["routes"].split(",") if r.strip())
    except ValueError:
        raise NetListError(f"{path}: routes are open and/or click") from None
    return NetList(header["name"], header["verdict"], routes, tuple(networks))


def load_lists(extra_dir: str = "") -> list[NetList]:
    """The shipped lists, then those of ``extra_dir`` (same file name replaces)."""
    files = {p.name: p for p in sorted(DEFAULTS.glob("*.txt"))}
    if extra_dir:
        folder = Path(extra_dir)
        if not folder.is_dir():
            raise NetListError(f"netlists_dir: not a directory: {folder}")
        files.update({p.name: p for p in sorted(folder.glob("*.txt"))})
    return [parse_list(files[name]) for name in sorted(files)]


class NetMatcher:
    """Which lists a stored (anonymised) address falls in."""

    def __init__(self, lists: list[NetList], ipv4_prefix: int, ipv6_prefix: int) -> None:
        self._lists = [nl for nl in lists if nl.networks]
        self._prefix = {4: ipv4_prefix, 6: ipv6_prefix}
        self.match = lru_cache(maxsize=16384)(self._match)

    def _match(self, stored: str | None) -> tuple[NetList, ...]:
        if not stored:
            return ()
        try:
            address = ipaddress.ip_address(stored)
        except ValueError:
            return ()
        block = ipaddress.ip_network(f"{address}/{self._prefix[address.version]}", strict=False)
        return tuple(
            nl
            for nl in self._lists
            if any(n.version == block.version and n.overlaps(block) for n in nl.networks)
        )
