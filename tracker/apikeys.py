"""API keys: which configured key a client presented, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def matching_key(presented: str, keys: Sequence[str]) -> int | None:
    """The index in ``keys`` of the key equal to ``presented``, else None; every key is
    compared, in constant time."""
    given = presented.encode("utf-8", "replace")
    found = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(given, key.encode("utf-8")):
            found = index
    return found
