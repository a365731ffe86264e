"""The client's address (through trusted proxies only) and its anonymised form."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from tracker.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# X-Forwarded-For is read from the right, at most this many hops: the proxies of a chain
# and the client they saw. What a client wrote to the left of them is never read.
MAX_HOPS = 16


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
    address = _parse(peer) if peer else None
    if address is None or not trusted or not forwarded_for:
        return address
    if not any(address in net for net in trusted):
        return address
    for hop in reversed(forwarded_for.rsplit(",", MAX_HOPS)[-MAX_HOPS:]):
        parsed = _parse(hop)
        if parsed is None:
            return address
        if not any(parsed in net for net in trusted):
            return parsed
        address = parsed
    return address


def anonymise(address: Address | None, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str | None:
    """The address with its host part zeroed: IPv4 keeps /24 and IPv6 /48 by default."""
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


class AddressResolver:
    """``client_address`` then ``anonymise``, bound to the settings and cached.

    Parsing addresses with ``ipaddress`` costs several microseconds a hit; the same
    clients (and proxies) come back again and again, so answers are kept in a bounded
    in-memory cache. The full address never leaves this process.
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
        self.resolve = functools.lru_cache(maxsize=65536)(self._resolve)

    def _resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The address as stored: its network (``prefix``), nothing (``full``) or whole."""
        if self._mode == "full":
            return None
        address = client_address(peer, forwarded_for, self._trusted)
        if self._mode == "none":
            return None if address is None else str(address)
        return anonymise(address, self._v4, self._v6)
