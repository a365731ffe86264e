"""POST /api/v1/decorate: ``tracker decorate`` over HTTP, for one recipient or many."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tracker.consent import Policy, campaign_policy, untracked_positions
from tracker.decorate import TooLarge
from tracker.decorate_pool import Busy, OverBudget, api_answer
from tracker.keys import DECORATE_POOL, SETTINGS, STORE
from tracker.routes.replies import error, json_body
from tracker.routes.table import RouteTable
from tracker.store.base import DeliveryTemplate
from tracker.tokens import Message

routes = RouteTable()

# The stdlib HTML parser slows down badly on some malformed input: cap the template.
MAX_HTML = 512 * 1024
MAX_RECIPIENTS = 1000
TOO_COSTLY = (
    "html: decorating it took more than {seconds:g} s of CPU time (unclosed tags or "
    "comments make the parser slow); nothing was stored"
)


def _ids(body: dict[str, Any]) -> tuple[str, str, str] | str:
    """(delivery, campaign, email), or the error text."""
    values = []
    for key in ("delivery", "campaign", "email"):
        value = body.get(key)
        if not isinstance(value, str) or not value:
            return f"{key}: required string"
        values.append(value)
    return values[0], values[1], values[2]


async def _untracked(request: web.Request, policy: Policy, recipients: list[str]) -> frozenset[int]:
    """The positions of the recipients the campaign's consent policy does not allow to
    track (their states read only when the policy reads them)."""
    if policy is Policy.OFF:
        return frozenset()
    states = await request.config_dict[STORE].consent_states(recipients)
    return untracked_positions(policy, states, recipients)


@routes.post("/decorate")
async def post_decorate(request: web.Request) -> web.Response:
    """``{delivery, campaign, email, recipient | recipients, html}`` → ``{html, headers}``.

    With ``recipients`` (a list) the answer is a list in the same order. The delivery's
    numbered links are registered for reports and the HTML as each recipient's copy, as
    ``tracker decorate`` does.
    """
    body = await json_body(request, "a JSON object")
    if not isinstance(body, dict):
        return error(400, "bad_request", "The body must be a JSON object.")
    ids = _ids(body)
    if isinstance(ids, str):
        return error(400, "bad_request", ids)
    html = body.get("html")
    if not isinstance(html, str) or not html:
        return error(400, "bad_request", "html: required string")
    if len(html) > MAX_HTML:
        return error(413, "too_large", f"html: at most {MAX_HTML} characters")
    many = "recipients" in body
    recipients = body.get("recipients") if many else [body.get("recipient")]
    if not isinstance(recipients, list) or not 0 < len(recipients) <= MAX_RECIPIENTS:
        return error(400, "bad_request", f"recipients: a list of 1 to {MAX_RECIPIENTS} ids")
    if not all(isinstance(r, str) and r for r in recipients):
        return error(400, "bad_request", "recipient: required string")
    delivery, campaign, email = ids
    opens, clicks = body.get("track_opens", True), body.get("track_clicks", True)
    if not isinstance(opens, bool) or not isinstance(clicks, bool):
        return error(400, "bad_request", "track_opens/track_clicks: true or false")
    messages = [Message(delivery, r, campaign, email) for r in recipients]
    settings = request.config_dict[SETTINGS]
    policy = campaign_policy(settings.consent, settings.consent_campaigns, campaign)
    flags = {"track_opens": opens, "track_clicks": clicks,
             "honeypot": "honeypot" in settings.signals,
             "preferences": policy is not Policy.OFF}  # fmt: skip
    pool = request.config_dict[DECORATE_POOL]
    untracked = await _untracked(request, policy, recipients)
    try:
        body, links = await pool.run(
            api_answer, html, messages, settings.base_url, many, flags, settings.bounce_domain,
            untracked,
        )  # fmt: skip
    except TooLarge as exc:
        return error(413, "too_large", f"{exc}; send fewer recipients per call")
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    except OverBudget:
        return error(422, "too_costly", TOO_COSTLY.format(seconds=pool.budget))
    except Busy:
        return error(503, "busy", "Decoration is busy; try again.", **{"Retry-After": "1"})
    template = DeliveryTemplate(
        delivery, campaign, email, html, links, opens, clicks, recipients=tuple(recipients),
        untracked=tuple(recipients[i] for i in sorted(untracked)),
    )  # fmt: skip
    await request.config_dict[STORE].register_delivery(template)
    return web.Response(body=body, content_type="application/json")
