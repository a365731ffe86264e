"""Signed, self-contained, URL-safe tokens: one serializer per purpose.

A token is ``base64(json(payload)).signature`` (itsdangerous ``URLSafeSerializer``;
a payload longer than COMPRESS_ABOVE bytes is compressed with zlib, as itsdangerous
would, while a short one is not: inflating costs more per hit than its bytes save). The
payload is a compact JSON list, so the server needs no lookup to verify a token or to
redirect. Salts separate purposes: an open token never verifies as a click or unsubscribe
token. Several keys may be configured; the newest (last) signs and all verify, so
rotating never breaks a mail already in an inbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import URLSafeSerializer, base64_encode
from itsdangerous.serializer import Serializer

from tracker.urls import MAX_URL_LENGTH, is_trackable_url, to_ascii
from tracker.verify import BadSignature, Verifier

# A token longer than this is refused before any work is done on it.
MAX_TOKEN_LENGTH = 4096
# The longest id (delivery, recipient, campaign, email) a token may carry.
MAX_ID_LENGTH = 256
# Link numbers run from 0 to MAX_LINKS - 1.
MAX_LINKS = 100_000
# The link number of the invisible honeypot link decorate adds: no person clicks it.
HONEYPOT_LINK = MAX_LINKS - 1
# The most a real payload can take once inflated: four ids whose characters JSON writes
# as 12 bytes each (astral ones as two \u escapes), a URL of 2-byte escapes, the rest.
MAX_PAYLOAD = 4 * MAX_ID_LENGTH * 12 + 2 * MAX_URL_LENGTH + 64
# Payloads (compact JSON) up to this many bytes are signed uncompressed.
COMPRESS_ABOVE = 400

SALT_OPEN = "tracker.open.v1"
SALT_CLICK = "tracker.click.v1"
SALT_UNSUBSCRIBE = "tracker.unsubscribe.v1"
SALT_VIEW = "tracker.view.v1"
SALT_BOUNCE = "tracker.bounce.v1"
SALT_PREFERENCES = "tracker.preferences.v1"


class _URLSafeSerializer(URLSafeSerializer):
    """itsdangerous's ``URLSafeSerializer`` that leaves short payloads uncompressed.

    Any itsdangerous ``URLSafeSerializer`` with the same key and salt reads its tokens.
    """

    def dump_payload(self, obj: Any) -> bytes:
        compact = Serializer.dump_payload(self, obj)
        if len(compact) > COMPRESS_ABOVE:
            return super().dump_payload(obj)
        return base64_encode(compact)


class BadToken(ValueError):
    """The token is malformed, tampered with, signed by an unknown key or of another kind."""


@dataclass(frozen=True, slots=True)
class Message:
    """One copy of a delivery sent to one recipient: what every token carries."""

    delivery: str
    recipient: str
    campaign: str
    email: str

    def fields(self) -> list[str]:
        return [self.delivery, self.recipient, self.campaign, self.email]


@dataclass(frozen=True, slots=True)
class Click:
    """A decorated link: the message, the link's position and its target URL."""

    message: Message
    link: int
    url: str


def _valid_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and (value.isascii() or is_utf8(value))
        and "\x00" not in value  # no database's text holds a NUL
    )


def is_utf8(value: str) -> bool:
    """False for a string with a lone surrogate (JSON ``"\\ud800"``): it cannot be stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _sized(token: str | bytes) -> str:
    """``token`` as text, refused when longer than the server reads (MAX_TOKEN_LENGTH)."""
    text = token if isinstance(token, str) else token.decode("ascii")
    if len(text) > MAX_TOKEN_LENGTH:
        raise ValueError(f"token too long ({len(text)} > {MAX_TOKEN_LENGTH}): shorten the ids")
    return text


def _message(items: Sequence[Any]) -> Message:
    if not all(_valid_id(v) for v in items):
        raise BadToken("bad id in token")
    return Message(*items)


def check_message(message: Message) -> None:
    """Refuse ids a token cannot carry (empty, longer than MAX_ID_LENGTH, lone surrogates)."""
    if not all(_valid_id(v) for v in message.fields()):
        raise ValueError(f"ids must be 1 to {MAX_ID_LENGTH} characters of UTF-8 text, no NUL")


class Tokens:
    """Makes and reads the tokens of every purpose with one list of keys."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        keys = list(secret_keys)
        self._open = _URLSafeSerializer(keys, salt=SALT_OPEN)
        self._click = _URLSafeSerializer(keys, salt=SALT_CLICK)
        self._unsubscribe = _URLSafeSerializer(keys, salt=SALT_UNSUBSCRIBE)
        self._view = _URLSafeSerializer(keys, salt=SALT_VIEW)
        self._read_open = Verifier(keys, SALT_OPEN, MAX_PAYLOAD)
        self._read_click = Verifier(keys, SALT_CLICK, MAX_PAYLOAD)
        self._read_unsubscribe = Verifier(keys, SALT_UNSUBSCRIBE, MAX_PAYLOAD)
        self._read_view = Verifier(keys, SALT_VIEW, MAX_PAYLOAD)
        self._bounce = _URLSafeSerializer(keys, salt=SALT_BOUNCE)
        self._read_bounce = Verifier(keys, SALT_BOUNCE, MAX_PAYLOAD)
        self._preferences = _URLSafeSerializer(keys, salt=SALT_PREFERENCES)
        self._read_preferences = Verifier(keys, SALT_PREFERENCES, MAX_PAYLOAD)

    # Making tokens -----------------------------------------------------------------

    def open_token(self, message: Message) -> str:
        check_message(message)
        return _sized(self._open.dumps(message.fields()))

    def unsubscribe_token(self, message: Message) -> str:
        check_message(message)
        return _sized(self._unsubscribe.dumps(message.fields()))

    def view_token(self, message: Message) -> str:
        check_message(message)
        return _sized(self._view.dumps(message.fields()))

    def bounce_token(self, message: Message) -> str:
        """The ``X-Tracker-Message`` header: names the message a bounce returns."""
        check_message(message)
        return _sized(self._bounce.dumps(message.fields()))

    def preferences_token(self, message: Message) -> str:
        """The tracking preferences page's token (``/p/``): the person's own consent."""
        check_message(message)
        return _sized(self._preferences.dumps(message.fields()))

    def click_token(self, click: Click) -> str:
        """Sign a link; only absolute http(s) targets can be signed.

        A non-ASCII target is signed in its ASCII form (``to_ascii``), the form that the
        redirect's ``Location`` header will carry.
        """
        check_message(click.message)
        url = to_ascii(click.url)
        if not is_trackable_url(url):
            raise ValueError("only absolute http(s) URLs can be tracked")
        if not 0 <= click.link < MAX_LINKS:
            raise ValueError(f"link numbers run from 0 to {MAX_LINKS - 1}")
        return _sized(self._click.dumps([*click.message.fields(), click.link, url]))

    # Reading tokens ----------------------------------------------------------------

    @staticmethod
    def _load(verifier: Verifier, token: str) -> list[Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise BadToken("token is empty or too long")
        try:
            payload = verifier.loads(token)
        except BadSignature as exc:
            raise BadToken("token does not verify") from exc
        if not isinstance(payload, list):
            raise BadToken("token payload is not a list")
        return payload

    def read_message(self, verifier: Verifier, token: str) -> Message:
        payload = self._load(verifier, token)
        if len(payload) != 4:
            raise BadToken("token payload has the wrong shape")
        return _message(payload)

    def read_open(self, token: str) -> Message:
        return self.read_message(self._read_open, token)

    def read_unsubscribe(self, token: str) -> Message:
        return self.read_message(self._read_unsubscribe, token)

    def read_view(self, token: str) -> Message:
        return self.read_message(self._read_view, token)

    def read_bounce(self, token: str) -> Message:
        return self.read_message(self._read_bounce, token)

    def read_preferences(self, token: str) -> Message:
        return self.read_message(self._read_preferences, token)

    def read_click(self, token: str) -> Click:
        payload = self._load(self._read_click, token)
        if len(payload) != 6:
            raise BadToken("token payload has the wrong shape")
        link, url = payload[4], payload[5]
        if type(link) is not int or not 0 <= link < MAX_LINKS:
            raise BadToken("bad link number in token")
        if not isinstance(url, str) or not is_trackable_url(url):
            raise BadToken("token target is not an http(s) URL")
        return Click(_message(payload[:4]), link, url)
