"""Fast verification of itsdangerous ``URLSafeSerializer`` tokens, same format.

itsdangerous builds a signer and derives its key on every ``loads``; on the hot path that
is half the cost of a hit. A ``Verifier`` derives each key once and keeps a primed HMAC
to copy, and compares the signature as text: a token is accepted only when spelled
exactly as it was signed (the base64 decoder would also take padded spellings, or other
spare bits in the last character).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Sequence
from typing import Any

from itsdangerous import Signer, base64_encode


class BadSignature(ValueError):
    """The token is malformed or its signature does not match any key."""


class Verifier:
    """Checks and decodes tokens of one salt signed with any of ``secret_keys``."""

    def __init__(self, secret_keys: Sequence[str], salt: str, max_payload: int) -> None:
        # A compressed payload that would inflate past this many bytes is refused.
        self._max_payload = max_payload
        # Newest key first: most tokens in circulation were signed by it.
        self._macs = [
            hmac.new(Signer(key, salt=salt).derive_key(), digestmod=hashlib.sha1)
            for key in reversed(secret_keys)
        ]

    def _signed(self, value: bytes, signature: bytes) -> bool:
        for primed in self._macs:
            mac = primed.copy()
            mac.update(value)
            if hmac.compare_digest(base64_encode(mac.digest()), signature):
                return True
        return False

    def _inflate(self, data: bytes) -> bytes:
        """``data`` inflated, refused past ``max_payload`` bytes: a matching signature says
        a key signed it, not that it is small (4 KB of zlib can hold megabytes)."""
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, self._max_payload)
        if inflater.unconsumed_tail or not inflater.eof:
            raise BadSignature("payload is truncated or inflates past any real token")
        return out

    def loads(self, token: str) -> Any:
        """The token's JSON payload; raises BadSignature unless it verifies."""
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise BadSignature("token is not ASCII") from None
        value, dot, signature = raw.rpartition(b".")
        if not dot or not value or not self._signed(value, signature):
            raise BadSignature("signature does not match")
        compressed = value.startswith(b".")
        if compressed:
            value = value[1:]
        try:
            data = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
            if compressed:
                data = self._inflate(data)
            return json.loads(data.decode("utf-8"))
        except (binascii.Error, zlib.error, ValueError, RecursionError) as exc:
            raise BadSignature("payload cannot be decoded") from exc
