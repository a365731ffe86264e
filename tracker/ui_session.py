"""The dashboard's session: log in with an API key, then a signed, expiring cookie.

The cookie holds no key, only a signed timestamp and which key logged in (its position),
so removing that key from the configuration ends the session. It is ``HttpOnly``,
``SameSite=Strict`` (no other site can make the browser send it), ``Secure`` when the
public origin is https, and scoped to ``/ui/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from tracker.routes.auth import key_matches

COOKIE = "tracker_ui"
MAX_AGE = 12 * 3600
SALT = "tracker.ui.session.v1"


class Sessions:
    """Issues and checks session cookies for the configured API keys."""

    def __init__(self, secret_keys: Sequence[str], api_keys: Sequence[str]) -> None:
        self._signer = TimestampSigner(list(secret_keys), salt=SALT)
        self._api_keys = list(api_keys)

    def login(self, presented: str) -> str | None:
        """The cookie value for a correct API key, else None (compared in constant time)."""
        for index, key in enumerate(self._api_keys):
            if key_matches(presented, [key]):
                return self._signer.sign(str(index)).decode("ascii")
        return None

    def valid(self, cookie: str | None) -> bool:
        """Whether ``cookie`` is a session this server issued, unexpired, for a current key."""
        if not cookie:
            return False
        try:
            index = self._signer.unsign(cookie, max_age=MAX_AGE).decode("ascii")
        except (BadSignature, SignatureExpired, UnicodeDecodeError):
            return False
        return index.isdigit() and int(index) < len(self._api_keys)
