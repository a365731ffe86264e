"""The providers' own webhook authentication: SendGrid's ECDSA signature, Mailgun's HMAC
with its one-time token, Postmark's basic auth. Pure but for Mailgun's token memory."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# How far a Mailgun timestamp may be from now, either way, before it is stale.
MAILGUN_WINDOW = 15 * 60


class Refused(Exception):
    """A webhook that does not authenticate: ``status`` 401 (no credentials) or 403."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def load_sendgrid_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """SendGrid's verification key, base64 DER (as its console shows it) or PEM; None if
    it is neither, or not an elliptic-curve key."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def verify_sendgrid(
    key: ec.EllipticCurvePublicKey, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    """SendGrid signs ``timestamp + body`` (the raw bytes) with ECDSA over SHA-256."""
    if not signature or not timestamp:
        raise Refused(401, "unsigned", "X-Twilio-Email-Event-Webhook-Signature is missing.")
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error, UnicodeEncodeError):
        raise Refused(403, "bad_signature", "The SendGrid signature does not verify.") from None


def verify_postmark(credentials: str, authorization: str | None) -> None:
    """HTTP basic auth with the configured ``user:password``, compared in constant time."""
    if not authorization or not authorization.lower().startswith("basic "):
        raise Refused(401, "unauthenticated", "Basic authentication is required.")
    try:
        given = base64.b64decode(authorization[6:].strip(), validate=True)
    except (ValueError, binascii.Error):
        raise Refused(403, "bad_credentials", "The credentials are not valid.") from None
    if not hmac.compare_digest(given, credentials.encode("utf-8")):
        raise Refused(403, "bad_credentials", "The credentials are not valid.")


@dataclass
class MailgunTokens:
    """The tokens of Mailgun signatures seen within the freshness window, per process:
    a token is good once. Older ones are forgotten, since their timestamp is stale."""

    window: float = MAILGUN_WINDOW
    seen: dict[str, float] = field(default_factory=dict)

    def take(self, token: str, now: float) -> bool:
        """Reserve ``token``; False if it was taken before."""
        if len(self.seen) > 1024:
            self.seen = {t: at for t, at in self.seen.items() if now - at <= self.window}
        if token in self.seen:
            return False
        self.seen[token] = now
        return True

    def give_back(self, token: str) -> None:
        """Release a token whose request failed before its events were stored."""
        self.seen.pop(token, None)


def verify_mailgun(key: str, signature: object, now: float | None = None) -> str:
    """Check ``signature.{timestamp, token, signature}``: HMAC-SHA256 of timestamp and
    token under the signing key, a timestamp within MAILGUN_WINDOW. Returns the token."""
    if not isinstance(signature, dict):
        raise Refused(401, "unsigned", "The body has no Mailgun signature object.")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not (isinstance(timestamp, str | int) and isinstance(token, str) and isinstance(given, str)):
        raise Refused(401, "unsigned", "signature needs timestamp, token and signature.")
    stamp = str(timestamp)
    expected = hmac.new(key.encode("utf-8"), (stamp + token).encode("utf-8"), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), given.lower()):
        raise Refused(403, "bad_signature", "The Mailgun signature does not verify.")
    now = time.time() if now is None else now
    if not stamp.isdigit() or abs(now - int(stamp)) > MAILGUN_WINDOW:
        raise Refused(403, "stale", "The Mailgun timestamp is not within 15 minutes of now.")
    return token
