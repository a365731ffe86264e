"""The tracking preferences page: GET shows the person's consent and changes nothing;
a form POST grants or withdraws it (source ``page``, with the wording shown) and answers
303 to the page (``?saved=1``), so a reload shows it again and never repeats the POST.

Link scanners fetch every URL in a mail, so a GET (or HEAD) never changes anything.
"""

from __future__ import annotations

from aiohttp import web

from tracker.consent import State
from tracker.events import iso
from tracker.keys import CLOCK, PAGES, STORE, TOKENS
from tracker.pages import error_page, invalid_link_page, render
from tracker.routes.bodies import MAX_FORM, read_form
from tracker.routes.table import RouteTable
from tracker.routes.unsubscribe import _UNREADABLE
from tracker.store.base import StoreUnavailable
from tracker.store.rows import ConsentRow
from tracker.tokens import BadToken, Message

routes = RouteTable()

# The wording the page shows; kept with each change made on it.
WORDING = (
    "May we measure when you open our emails and which of their links you follow? "
    "It helps us send fewer, better emails. Without your permission we count opens and "
    "clicks only in totals that do not name you."
)
LABELS = {
    State.GRANTED: "measuring allowed",
    State.DENIED: "measuring not allowed",
    State.UNKNOWN: "not chosen yet",
}


def _message(request: web.Request) -> Message | None:
    try:
        return request.config_dict[TOKENS].read_preferences(request.match_info["token"])
    except BadToken:
        return None


async def _page(request: web.Request, recipient: str, saved: bool) -> web.Response:
    current = await request.config_dict[STORE].consent(recipient, history=0)
    label = LABELS[State(current["state"])]
    return render(request.config_dict[PAGES], "preferences.html", wording=WORDING,
                  state_label=label, changed=label if saved else "")  # fmt: skip


@routes.get("/p/{token}")
async def preferences(request: web.Request) -> web.Response:
    """Show the person's current choice and the form; nothing is written."""
    message = _message(request)
    if message is None:
        return invalid_link_page(request)
    return await _page(request, message.recipient, request.query.get("saved") == "1")


@routes.post("/p/{token}")
async def change(request: web.Request) -> web.Response:
    """Keep the person's choice (``state`` = granted or denied); 303 to the page."""
    message = _message(request)
    if message is None:
        return invalid_link_page(request)
    try:
        form = await read_form(request)
    except _UNREADABLE as exc:
        raise web.HTTPBadRequest(text="The request body could not be read.") from exc
    if form is None:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM)
    chosen = form.get("state")
    if chosen not in (State.GRANTED, State.DENIED):
        return error_page(request, 400, "Choose an option",
                          "Press one of the two buttons on the page.")  # fmt: skip
    now = iso(request.config_dict[CLOCK]())
    row = ConsentRow(message.recipient, str(chosen), now, "page", WORDING)
    try:
        await request.config_dict[STORE].set_consent([row], now)
    except StoreUnavailable:
        return error_page(request, 503, "Please try again",
                          "We could not save your choice just now. Please try again in a "
                          "minute.")  # fmt: skip
    raise web.HTTPSeeOther(
        f"/p/{request.match_info['token']}?saved=1", headers={"Cache-Control": "no-store"}
    )
