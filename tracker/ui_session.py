"""The dashboard's session: log in with an API key, then a cookie naming a session the
store keeps.

The cookie is ``{id}.{mac}``: a random 256-bit id and its HMAC-SHA256 under a key derived
from the API key that logged in (for this purpose only; the token keys play no part, so
nothing but that API key can make one). The store keeps the id's SHA-256, the fingerprint
of the key (an HMAC under the key itself) and the expiry, never the id or the key: a
session is valid only while its row exists, its key is still configured and it has not
expired. Logout deletes the row, on every worker and node at once; removing or changing
a key ends its sessions (the MAC no longer verifies, and a server started without the key
deletes their rows, so putting the key back does not revive them).

The cookie is ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the public origin is
https, and scoped to ``/ui/``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from tracker.apikeys import matching_key
from tracker.store.base import Store

COOKIE = "tracker_ui"
MAX_AGE = 12 * 3600
_PRINT = b"tracker.ui.session.fingerprint.v2"
_SIGNING = b"tracker.ui.session.signing.v2"


def fingerprint(api_key: str) -> str:
    """The key's fingerprint: reveals nothing of the key, changes when it changes."""
    return hmac.new(api_key.encode(), _PRINT, hashlib.sha256).hexdigest()


def _mac(signing_key: bytes, session_id: str) -> str:
    return hmac.new(signing_key, session_id.encode(), hashlib.sha256).hexdigest()


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Issues, checks and ends session cookies for the configured API keys."""

    def __init__(self, api_keys: Sequence[str], store: Store) -> None:
        self._api_keys = tuple(api_keys)
        self._keys = [
            (fingerprint(key), hmac.new(key.encode(), _SIGNING, "sha256").digest())
            for key in api_keys
        ]
        self._store = store

    @property
    def fingerprints(self) -> list[str]:
        return [key_print for key_print, _ in self._keys]

    async def login(self, presented: str, now: int, client: str) -> str | None:
        """A new session's cookie for a correct API key, else None (every key is compared,
        in constant time)."""
        index = matching_key(presented, self._api_keys)
        if index is None:
            return None
        key_print, signing = self._keys[index]
        session_id = secrets.token_urlsafe(32)
        await self._store.start_session(_digest(session_id), key_print, now + MAX_AGE, client)
        return f"{session_id}.{_mac(signing, session_id)}"

    def _verified(self, cookie: str | None) -> tuple[str, str] | None:
        """The session id and its key's fingerprint when a configured key signed it."""
        session_id, _, mac = (cookie or "").partition(".")
        if not session_id or len(cookie or "") > 200:
            return None
        found = None
        for key_print, signing in self._keys:
            if hmac.compare_digest(mac.encode(), _mac(signing, session_id).encode()):
                found = (session_id, key_print)
        return found

    async def valid(self, cookie: str | None, now: int) -> bool:
        """Whether ``cookie`` names a live session, made with a key still configured."""
        verified = self._verified(cookie)
        if verified is None:
            return False
        row = await self._store.session(_digest(verified[0]))
        return row is not None and row[0] == verified[1] and now < row[1]

    async def logout(self, cookie: str | None) -> None:
        """End the session ``cookie`` names, if it is one."""
        verified = self._verified(cookie)
        if verified is not None:
            await self._store.end_session(_digest(verified[0]))

    async def end_stale(self, now: int) -> None:
        """End the sessions of keys no longer configured, and the expired ones."""
        await self._store.end_sessions_except(self.fingerprints, now)
