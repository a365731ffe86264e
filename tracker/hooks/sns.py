"""Amazon SNS messages: signature (versions 1 and 2) checked with the certificate named by
``SigningCertURL``, fetched over https only from an SNS host (``sns.<region>.amazonaws.com``
or a configured one) and cached; subscriptions confirmed by visiting ``SubscribeURL``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tracker.hooks.signatures import Refused

_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
# SNS names its signing certificates so; nothing else on its hosts is fetched.
_CERT_PATH = re.compile(r"^/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem$")
# The fields each message type signs, in byte order (AWS SNS developer guide,
# "Verifying the signatures of Amazon SNS messages").
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERT_BYTES = 64 * 1024
MAX_CACHED = 32
FETCH_SECONDS = 10.0


class Unavailable(Exception):
    """A certificate or a confirmation URL could not be reached: the provider retries."""


def allowed(url: object, extra_hosts: tuple[str, ...]) -> bool:
    """An https URL on an SNS host, or on one of ``extra_hosts`` (``host[:port]``)."""
    if not isinstance(url, str) or len(url) > 2048:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in range
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return False
    if port is None and _SNS_HOST.match(parts.hostname):
        return True
    return parts.netloc.lower() in {h.lower() for h in extra_hosts}


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The newline-delimited name/value pairs SNS signs for the message's ``Type``."""
    kind = message.get("Type")
    names = _SIGNED.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise Refused(403, "bad_signature", "Unknown SNS message type.")
    lines: list[str] = []
    for name in names:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Refused(403, "bad_signature", f"The SNS message has no {name}.")
        lines += [name, value]
    try:
        return ("\n".join(lines) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: SNS never signed it
        raise Refused(403, "bad_signature", "The SNS message is not UTF-8 text.") from None


class Certificates:
    """SNS signing certificates by URL, fetched once (concurrent askers share one fetch)."""

    def __init__(self, extra_hosts: tuple[str, ...]) -> None:
        self.extra_hosts = extra_hosts
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetching: dict[str, asyncio.Task[rsa.RSAPublicKey]] = {}
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """A client that trusts the system's store (``SSL_CERT_FILE`` is honoured)."""
        if self._session is None:
            context = ssl.create_default_context()
            connector = aiohttp.TCPConnector(ssl=context, limit=8)
            timeout = aiohttp.ClientTimeout(total=FETCH_SECONDS)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def key(self, url: str) -> rsa.RSAPublicKey:
        found = self._keys.get(url)
        if found is not None:
            return found
        task = self._fetching.get(url)
        if task is None:
            task = asyncio.ensure_future(self._fetch(url))
            self._fetching[url] = task
            task.add_done_callback(lambda _: self._fetching.pop(url, None))
        key = await asyncio.shield(task)
        if len(self._keys) >= MAX_CACHED:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = key
        return key

    async def _fetch(self, url: str) -> rsa.RSAPublicKey:
        try:
            async with self.session().get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise Unavailable(f"certificate answered {response.status}")
                data = await response.content.read(MAX_CERT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unavailable(f"certificate not fetched: {type(exc).__name__}") from None
        if len(data) > MAX_CERT_BYTES:
            raise Unavailable("certificate too large")
        try:
            key = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise Unavailable("certificate is not PEM") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unavailable("certificate key is not RSA")
        return key

    async def verify(self, message: dict[str, Any], topics: tuple[str, ...]) -> None:
        """Refuse a message of another topic, from a host not allowed, or signed wrongly."""
        if message.get("TopicArn") not in topics:
            raise Refused(403, "unknown_topic", "The SNS topic is not in TRACKER_SES_TOPICS.")
        url = message.get("SigningCertURL")
        if not allowed(url, self.extra_hosts) or not _CERT_PATH.match(urlsplit(str(url)).path):
            raise Refused(403, "cert_host", "SigningCertURL is not https on an SNS host.")
        algorithm = _HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise Refused(403, "bad_signature", "SignatureVersion must be 1 or 2.")
        text = string_to_sign(message)
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (ValueError, binascii.Error):
            raise Refused(403, "bad_signature", "The SNS signature is not base64.") from None
        key = await self.key(str(url))
        try:
            key.verify(signature, text, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Refused(403, "bad_signature", "The SNS signature does not verify.") from None

    async def confirm(self, message: dict[str, Any]) -> None:
        """Visit ``SubscribeURL`` (same host rule as certificates) to confirm a subscription."""
        url = message.get("SubscribeURL")
        if not allowed(url, self.extra_hosts):
            raise Refused(403, "subscribe_host", "SubscribeURL is not https on an SNS host.")
        try:
            async with self.session().get(str(url), allow_redirects=False) as response:
                await response.content.read(MAX_CERT_BYTES)
                if response.status != 200:
                    raise Unavailable(f"SubscribeURL answered {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unavailable(f"SubscribeURL not reached: {type(exc).__name__}") from None
