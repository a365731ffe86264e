"""What the webhook routes keep between requests: SNS certificates, Mailgun's tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from tracker.config import Settings
from tracker.hooks.signatures import MailgunTokens, load_sendgrid_key
from tracker.hooks.sns import Certificates


@dataclass
class HookState:
    """Per server process: the certificate cache and the Mailgun tokens seen."""

    certificates: Certificates
    sendgrid_key: ec.EllipticCurvePublicKey | None
    mailgun_tokens: MailgunTokens = field(default_factory=MailgunTokens)


def hook_state(settings: Settings) -> HookState:
    key = load_sendgrid_key(settings.sendgrid_public_key) if settings.sendgrid_public_key else None
    return HookState(Certificates(settings.ses_cert_hosts), key)


async def hooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Close the certificate fetcher's client at shutdown."""
    from tracker.keys import HOOKS

    yield
    await app[HOOKS].certificates.close()
