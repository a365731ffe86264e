"""Shared by the provider-webhook tests and the reliability row: the providers' documented
samples, and their signatures made with keys made here (a CA and an SNS signing
certificate served over https on loopback, an ECDSA key pair, an HMAC key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

DATA = Path(__file__).resolve().parent / "data" / "providers"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
MAILGUN_KEY = "key-mailgun-webhook-signing-test-0123456789"
POSTMARK_CREDENTIALS = "postmark:hook-password-for-tests"


def sample(provider: str, name: str) -> Any:
    """A documented sample payload, parsed."""
    return json.loads((DATA / provider / name).read_text(encoding="utf-8"))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool, san: bool = False
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        import ipaddress

        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class SnsHost:
    """A stand-in for an SNS host: https on loopback under a CA made here, serving the
    signing certificate and counting subscription confirmations."""

    folder: Path
    host: str = ""
    confirmations: list[str] = field(default_factory=list)
    certificate_fetches: int = 0
    runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("Test SNS CA", self.ca_key, "Test SNS CA", self.ca_key, True)
        self.tls_key = ec.generate_private_key(ec.SECP256R1())
        tls = _cert("localhost", self.tls_key, "Test SNS CA", self.ca_key, False, san=True)
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_cert = _cert("sns.test", self.signing_key, "Test SNS CA", self.ca_key, False)
        self.ca_file = self.folder / "ca.pem"
        self.ca_file.write_bytes(_pem(self.ca))
        (self.folder / "tls.pem").write_bytes(_pem(tls))
        (self.folder / "tls.key").write_bytes(
            self.tls_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/SimpleNotificationService-test.pem", self._certificate)
        app.router.add_get("/", self._confirm)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.folder / "tls.pem", self.folder / "tls.key")
        site = web.TCPSite(self.runner, "localhost", 0, ssl_context=context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = f"localhost:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _certificate(self, request: web.Request) -> web.Response:
        self.certificate_fetches += 1
        return web.Response(body=_pem(self.signing_cert), content_type="application/x-pem-file")

    async def _confirm(self, request: web.Request) -> web.Response:
        self.confirmations.append(request.query.get("Token", ""))
        return web.Response(text="<ConfirmSubscriptionResponse/>", content_type="text/xml")

    @property
    def cert_url(self) -> str:
        return f"https://{self.host}/SimpleNotificationService-test.pem"

    def sign(self, envelope: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """``envelope`` with SigningCertURL, SignatureVersion and a real Signature."""
        from tracker.hooks.sns import string_to_sign

        signed = {**envelope, "SignatureVersion": version, "SigningCertURL": self.cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = self.signing_key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(raw).decode()
        return signed

    def notification(self, ses_sample: str, message_id: str, version: str = "1") -> dict[str, Any]:
        """The documented SNS Notification carrying one documented SES sample."""
        envelope = sample("ses", "sns-notification.json")
        envelope.pop("Subject", None)  # SES notifications carry none
        envelope.update(
            MessageId=message_id,
            Message=(DATA / "ses" / ses_sample).read_text(encoding="utf-8"),
        )
        return self.sign(envelope, version)


class SendGridSigner:
    """An ECDSA P-256 key pair like SendGrid's; the public half as its console shows it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str = "1600112502") -> dict[str, str]:
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }


def mailgun_body(event_data: dict[str, Any], token: str, timestamp: int) -> dict[str, Any]:
    """A Mailgun webhook body: ``signature`` made with MAILGUN_KEY, and ``event-data``."""
    mac = hmac.new(MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    signature = {"timestamp": str(timestamp), "token": token, "signature": mac.hexdigest()}
    return {"signature": signature, "event-data": event_data}


def postmark_auth(credentials: str = POSTMARK_CREDENTIALS) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
