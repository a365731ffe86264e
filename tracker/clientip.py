"""The client's address (through trusted proxies only) and its anonymised form."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence

from tracker.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# X-Forwarded-For is read from the right, at most this many hops: the proxies of a chain
# and the client they saw. What a client wrote to the left of them is never read.
MAX_HOPS = 16
# The longest text of an address (IPv6 with an embedded IPv4 and a zone); longer is not one.
MAX_HOP = 64
# Answers kept by AddressResolver: each entry is keyed on at most MAX_HOP characters.
CACHE_SIZE = 16384


def _parse(value: str) -> Address | None:
    try:
        return ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> Address | None:
    """The peer itself, or, when the peer is a trusted proxy, the nearest untrusted hop
    of ``X-Forwarded-For`` (read right to left, so a client cannot forge its way in, and
    whatever it writes in front cannot push the hop its proxy appended out)."""
    nets = tuple(trusted)

    def look(text: str) -> tuple[Address | None, bool]:
        return _look(text, nets)

    address, proxy = look(peer) if peer else (None, False)
    if not proxy or not forwarded_for:
        return address
    return _walk(address, forwarded_for, look)


def _look(text: str, trusted: tuple[Network, ...]) -> tuple[Address | None, bool]:
    """The address ``text`` spells (None past MAX_HOP characters) and whether it is trusted."""
    address = _parse(text) if len(text) <= MAX_HOP else None
    return address, address is not None and any(address in net for net in trusted)


def _walk(
    proxy: Address | None,
    forwarded_for: str,
    look: Callable[[str], tuple[Address | None, bool]],
) -> Address | None:
    """The first hop from the right that ``look`` says is not trusted (or the last that
    is, when a hop is not an address or MAX_HOPS were all trusted)."""
    address = proxy
    for hop in reversed(forwarded_for.rsplit(",", MAX_HOPS)[-MAX_HOPS:]):
        parsed, trusted = look(hop.strip())
        if parsed is None:
            return address
        if not trusted:
            return parsed
        address = parsed
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries whole: IPv4-mapped, 6to4, Teredo's client,
    NAT64 (``64:ff9b::/96``) and IPv4-compatible (``::a.b.c.d``); None for others."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def anonymise(address: Address | None, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str | None:
    """The address with its host part zeroed: IPv4 keeps /24 and IPv6 /48 by default.

    An IPv6 form that carries an IPv4 address is anonymised as that IPv4 address, since
    its /48 would keep the whole of it (6to4's ``2002:c633:6417::`` is 198.51.100.23).
    """
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        address = embedded_ipv4(address) or address
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


class AddressResolver:
    """``client_address`` then ``anonymise``, bound to the settings and cached.

    Parsing addresses with ``ipaddress`` costs several microseconds a hit; the same
    clients (and proxies) come back again and again, so answers are kept in bounded
    in-memory caches. They are keyed on what varies with the client, never on a whole
    header: the peer's address, each hop of ``X-Forwarded-For`` that is read (at most
    MAX_HOP characters) and the address found. The full address never leaves this process.
    """

    def __init__(
        self,
        trusted: Sequence[Network],
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 48,
        mode: str = "prefix",
    ) -> None:
        self._trusted = tuple(trusted)
        self._v4 = ipv4_prefix
        self._v6 = ipv6_prefix
        self._mode = mode
        cache = functools.lru_cache(maxsize=CACHE_SIZE)
        self._look = cache(self._look_up)
        self._stored = cache(self._stored_form)
        self._peer = cache(self._peer_form)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The address as stored: its network (``prefix``), nothing (``full``) or whole."""
        if self._trusted and forwarded_for and peer:
            address, proxy = self._look(peer)
            if proxy:
                return self._stored(_walk(address, forwarded_for, self._look))
        return self._peer(peer)

    def _look_up(self, text: str) -> tuple[Address | None, bool]:
        return _look(text, self._trusted)

    def _peer_form(self, peer: str | None) -> str | None:
        return self._stored(self._look(peer)[0] if peer else None)

    def _stored_form(self, address: Address | None) -> str | None:
        if self._mode == "full":
            return None
        if self._mode == "none":
            return None if address is None else str(address)
        return anonymise(address, self._v4, self._v6)
