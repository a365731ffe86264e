"""The VERP return path: ``b-<token>@<bounce domain>``, whose token names the message."""

from __future__ import annotations

PREFIX = "b-"


def bounce_address(token: str, domain: str) -> str:
    """The envelope sender that brings a message's bounces back with its token."""
    return f"{PREFIX}{token}@{domain}"


def token_of(address: str | None) -> str | None:
    """The token of a VERP address (``<b-TOKEN@domain>``), or None for any other."""
    if not address:
        return None
    local = address.strip().strip("<>").rsplit("@", 1)[0]
    return local[len(PREFIX) :] if local.startswith(PREFIX) and len(local) > len(PREFIX) else None
