"""``POST /hooks/{ses,sendgrid,mailgun,postmark}``: the providers' delivery webhooks.

No bearer key: each is authenticated the provider's way (401 without credentials, 403
with wrong ones), and a provider whose settings are missing answers 404. Every answer
to an authenticated request is 200 with a result per event, unless the store could not
commit (503: the provider retries, and the retry changes nothing stored twice).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from tracker.hooks import notices
from tracker.hooks.intake import take
from tracker.hooks.notices import BadPayload, Notice
from tracker.hooks.signatures import (
    Refused,
    verify_mailgun,
    verify_postmark,
    verify_sendgrid,
)
from tracker.hooks.sns import Unavailable
from tracker.keys import CLOCK, HOOKS, SETTINGS, STORE, TOKENS
from tracker.metrics import HOOK_REFUSED
from tracker.routes.bodies import read_body
from tracker.routes.replies import error, too_large
from tracker.routes.table import RouteTable, add_fallback

log = structlog.get_logger("tracker.hooks")
routes = RouteTable()

Handler = Callable[[web.Request, bytes], Awaitable[web.Response]]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadPayload("The body must be JSON.") from None


async def _store(request: web.Request, found: list[Notice]) -> web.Response:
    app = request.config_dict
    now = app[CLOCK]()
    answer = await take(app[STORE], app[TOKENS], found, now)
    return web.json_response(answer)


def guarded(provider: str, configured: Callable[[web.Request], bool]) -> Callable[[Handler], Any]:
    """404 when not configured; the body read within ``max_body``; refusals and bad
    payloads answered as JSON errors, counted and logged without the body."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            if not configured(request):
                return error(404, "not_configured", f"The {provider} webhook is not configured.")
            body = await read_body(request, request.client_max_size)
            if body is None:
                raise too_large(request.client_max_size)
            try:
                return await handler(request, body)
            except Refused as exc:
                HOOK_REFUSED.labels(provider, exc.code).inc()
                log.info("webhook refused", provider=provider, reason=exc.code)
                return error(exc.status, exc.code, str(exc))
            except BadPayload as exc:
                log.info("webhook unreadable", provider=provider)
                return error(400, "bad_request", str(exc))
            except Unavailable as exc:
                log.warning("webhook deferred", provider=provider, problem=str(exc))
                return error(
                    503, "unavailable", "Could not reach SNS; retry.", **{"Retry-After": "5"}
                )

        run.__doc__ = handler.__doc__
        return run

    return wrap


@routes.post("/ses")
@guarded("ses", lambda r: bool(r.config_dict[SETTINGS].ses_topics))
async def ses(request: web.Request, body: bytes) -> web.Response:
    """An SNS message for SES: verified, a subscription confirmed, a notification stored."""
    message = _json(body)
    if not isinstance(message, dict) or "Signature" not in message:
        raise Refused(401, "unsigned", "Only signed SNS messages are taken (no raw delivery).")
    state = request.config_dict[HOOKS]
    await state.certificates.verify(message, request.config_dict[SETTINGS].ses_topics)
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        await state.certificates.confirm(message)
        log.info("sns subscription confirmed", topic=message.get("TopicArn"))
        return web.json_response({"confirmed": True})
    if kind != "Notification":
        return web.json_response({"results": [], "counts": {}})
    return await _store(request, notices.ses(str(message["MessageId"]), str(message["Message"])))


@routes.post("/sendgrid")
@guarded("sendgrid", lambda r: r.config_dict[HOOKS].sendgrid_key is not None)
async def sendgrid(request: web.Request, body: bytes) -> web.Response:
    """A batch of SendGrid events, signed with ECDSA over the timestamp and the raw body."""
    key = request.config_dict[HOOKS].sendgrid_key
    assert key is not None  # configured
    verify_sendgrid(
        key,
        request.headers.get("X-Twilio-Email-Event-Webhook-Signature"),
        request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp"),
        body,
    )
    return await _store(request, list(notices.sendgrid(_json(body))))


@routes.post("/mailgun")
@guarded("mailgun", lambda r: bool(r.config_dict[SETTINGS].mailgun_signing_key))
async def mailgun(request: web.Request, body: bytes) -> web.Response:
    """One Mailgun event: HMAC-signed timestamp and token, each token good once."""
    payload = _json(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    key = request.config_dict[SETTINGS].mailgun_signing_key
    now = request.config_dict[CLOCK]().timestamp()
    token = verify_mailgun(key, signature, now)
    found = notices.mailgun(payload)
    tokens = request.config_dict[HOOKS].mailgun_tokens
    if not tokens.take(token, time.monotonic()):
        raise Refused(403, "replayed", "This Mailgun token was used before.")
    try:
        return await _store(request, [found])
    except BaseException:
        tokens.give_back(token)  # nothing stored: the provider's retry must pass
        raise


@routes.post("/postmark")
@guarded("postmark", lambda r: bool(r.config_dict[SETTINGS].postmark_credentials))
async def postmark(request: web.Request, body: bytes) -> web.Response:
    """One Postmark record, with the configured basic-auth credentials."""
    credentials = request.config_dict[SETTINGS].postmark_credentials
    verify_postmark(credentials, request.headers.get("Authorization"))
    return await _store(request, [notices.postmark(_json(body))])


def hooks_app(*middlewares: Middleware) -> web.Application:
    """The /hooks sub-application."""
    app = web.Application(middlewares=list(middlewares))
    app.add_routes(routes)
    add_fallback(app)
    return app
