"""The unsubscribe page: GET shows a form and changes nothing; POST unsubscribes.

Link scanners fetch every URL in a mail, so a GET (or HEAD) never unsubscribes. A POST
is either the form's submit or an RFC 8058 one-click request from the mailbox provider
(body ``List-Unsubscribe=One-Click``, urlencoded or multipart, no cookies): both log
Unsubscribed, which the store keeps once per recipient.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from tracker import metrics
from tracker.events import EventType, Route
from tracker.keys import PAGES, RECORDER, TOKENS
from tracker.pages import PAGE_HEADERS, error_page, invalid_link_page, render
from tracker.routes.bodies import MAX_FORM, read_form
from tracker.routes.table import RouteTable
from tracker.tokens import BadToken, Message

routes = RouteTable()

# What aiohttp raises for a body it cannot parse: bad charsets and values, malformed
# multipart part headers (HttpProcessingError), unknown part encodings or an overlong
# ``_charset_`` (RuntimeError), a body that does not inflate (RequestPayloadError).
_UNREADABLE = (
    ValueError,
    UnicodeError,
    AssertionError,
    LookupError,
    RuntimeError,
    HttpProcessingError,
    web.RequestPayloadError,
)


def _message(request: web.Request) -> Message | None:
    try:
        return request.config_dict[TOKENS].read_unsubscribe(request.match_info["token"])
    except BadToken:
        metrics.HITS.count(Route.UNSUBSCRIBE, "bad_token")
        return None


@routes.get("/u/{token}")
async def unsubscribe_form(request: web.Request) -> web.Response:
    """Show the confirmation form; logs the hit in the raw log but never Unsubscribed."""
    message = _message(request)
    if message is None:
        return invalid_link_page(request)
    recorder = request.app[RECORDER]
    await recorder.record(recorder.build(request, Route.UNSUBSCRIBE, message, "form", None))
    return render(request.config_dict[PAGES], "unsubscribe.html")


async def _is_one_click(request: web.Request) -> bool:
    """True for an RFC 8058 body; raises HTTPBadRequest for a body that cannot be read."""
    try:
        form = await read_form(request)
    except _UNREADABLE as exc:
        raise web.HTTPBadRequest(text="The request body could not be read.") from exc
    if form is None:  # over MAX_FORM: what was read is freed already (tracker.routes.bodies)
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM)
    return form.get("List-Unsubscribe") == "One-Click"


@routes.post("/u/{token}")
async def unsubscribe(request: web.Request) -> web.Response:
    """Log Unsubscribed; answer the confirmation page, or plain 200 for a one-click POST."""
    message = _message(request)
    if message is None:
        return invalid_link_page(request)
    one_click = await _is_one_click(request)
    outcome = "one_click" if one_click else "form_submit"
    recorder = request.app[RECORDER]
    hit = recorder.build(request, Route.UNSUBSCRIBE, message, outcome, EventType.UNSUBSCRIBED)
    if not await recorder.record(hit):
        # The one change a recipient asked for must not be acknowledged unless stored.
        return error_page(
            request,
            503,
            "Please try again",
            "We could not record your request just now. Please try again in a minute.",
        )
    if one_click:
        return web.Response(text="Unsubscribed.\n", headers=PAGE_HEADERS)
    return render(request.config_dict[PAGES], "unsubscribed.html")
