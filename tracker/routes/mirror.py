"""GET /v/{token}: "view in browser", the recipient's copy of the delivery's HTML.

The page is the copy registered for this recipient (never another's) decorated again
(links still tracked unless the person may not be tracked now, no open pixel: reading
the copy is not opening the mail), served
in a sandbox with no script allowed. Copies are made in the decorate pool
(tracker.decorate_pool) and kept in a bounded cache keyed by the token and the copy's
fingerprint.
"""

from __future__ import annotations

from aiohttp import web

from tracker.consent import Policy, campaign_policy, untracked_positions
from tracker.decorate_pool import Busy, OverBudget, view_copy
from tracker.keys import DECORATE_POOL, SETTINGS, STORE, TOKENS, VIEWS
from tracker.pages import error_page, invalid_link_page
from tracker.routes.table import RouteTable
from tracker.store.copies import digest
from tracker.tokens import BadToken, Message

routes = RouteTable()

# The template is the marketer's, not ours: it may load its images, fonts and styles,
# never run a script, and its links may only take the reader to a new page.
MIRROR_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "sandbox allow-popups allow-popups-to-escape-sandbox "
        "allow-top-navigation-by-user-activation; default-src 'none'; "
        "img-src http: https: data:; style-src 'unsafe-inline' http: https:; "
        "font-src http: https: data:; form-action 'none'; base-uri 'none'"
    ),
}


async def _may_track(request: web.Request, message: Message) -> bool:
    """Whether the campaign's consent policy allows tracking the person now: if not, the
    copy's links go straight to their targets."""
    settings = request.app[SETTINGS]
    policy = campaign_policy(settings.consent, settings.consent_campaigns, message.campaign)
    if policy is Policy.OFF:
        return True
    states = await request.app[STORE].consent_states([message.recipient])
    return not untracked_positions(policy, states, [message.recipient])


@routes.get("/v/{token}")
async def view_in_browser(request: web.Request) -> web.Response:
    """The recipient's copy; 404 for a bad token or no copy registered for them."""
    app = request.app
    try:
        message = app[TOKENS].read_view(request.match_info["token"])
    except BadToken:
        return invalid_link_page(request)
    template = await app[STORE].view(message.delivery, message.recipient)
    if template is None:
        return error_page(request, 404, "Not available", "This email is no longer available.")
    token = request.match_info["token"]
    track = template.track_clicks and await _may_track(request, message)
    key = (token, digest(template.html), track)
    copy = app[VIEWS].get(key)
    if copy is None:
        try:
            copy = await app[DECORATE_POOL].run(
                view_copy, template.html, message, app[SETTINGS].base_url, track
            )
        except (Busy, OverBudget):
            busy = error_page(request, 503, "Busy", "Please try again in a moment.")
            busy.headers["Retry-After"] = "1"
            return busy
        app[VIEWS].put(key, copy)
    return web.Response(
        text=copy, content_type="text/html", charset="utf-8", headers=MIRROR_HEADERS
    )
