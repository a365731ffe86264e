"""The dashboard over HTTP: the login and its cookie, the numbers on its pages, and that
nothing from tracked data reaches a page as markup."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from tests.conftest import API_KEY
from tests.helpers import START, Clock, cell, logged_in, trusting_app
from tests.mailing import DELIVERY, mail
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


async def test_login_sets_a_strict_session_cookie_and_guards_every_page(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    for path in ("/ui/", f"/ui/deliveries/{DELIVERY}", "/ui/workflow"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    resp = await client.post("/ui/login", data={"key": "wrong"}, allow_redirects=False)
    assert resp.status == 403 and "That key is not valid." in await resp.text()
    assert "tracker_ui" not in resp.cookies

    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 303
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/ui/" in header
    assert API_KEY not in header, "the cookie holds no key"
    resp = await client.get("/ui/")
    assert resp.status == 200 and "<h1>Deliveries</h1>" in await resp.text()
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]

    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"tracker_ui": "0.forged.signature"})
    resp = await client.get("/ui/", allow_redirects=False)
    assert resp.status == 303, "a forged cookie is no session"


async def test_pages_show_the_reports_numbers(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    await mail(client, clock, tokens, auth, START)
    await logged_in(client)

    listing = await (await client.get("/ui/?q=fall")).text()
    assert f'href="/ui/deliveries/{DELIVERY}"' in listing
    assert DELIVERY not in await (await client.get("/ui/?q=nothing-like-it")).text()

    stats = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)).json()
    page = await (await client.get(f"/ui/deliveries/{DELIVERY}")).text()
    for key in ("sent", "delivered", "opened", "clicks", "unique_clickers", "unsubscribed"):
        assert cell(page, "data-figure", key) == str(stats[key])
    assert cell(page, "data-bots", "bot_clicks") == str(stats["bots"]["bot_clicks"])
    assert cell(page, "data-rate", "open") == f"{stats['rates']['open'] * 100:.1f} %"
    assert '<svg id="timeline-chart"' in page and '<svg id="clients-chart"' in page

    urls = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/urls", headers=auth)).json()
    page = await (await client.get(f"/ui/deliveries/{DELIVERY}?tab=urls")).text()
    for u in urls:
        row = re.search(rf'<tr data-link="{u["link"]}">(.*?)</tr>', page)
        assert row is not None and f"<td>{u['clicks']}</td>" in row[1]

    page = await (await client.get(f"/ui/deliveries/{DELIVERY}?tab=logs&verdict=bot")).text()
    assert page.count('<tr class="bot">') == 12 + 1 + 2  # gateway clicks, a script, HEADs
    resp = await client.get("/api/v1/recipients/p03/tracking?sort=asc", headers=auth)
    theirs = (await resp.json())["items"]
    page = await (await client.get("/ui/recipients/p03?sort=asc")).text()
    shown = re.findall(r'<tr class="[a-z_]+" data-at="([^"]+)" data-type="([a-z_]+)">', page)
    assert shown == [(i["at"], i["type"]) for i in theirs]
    clicked = await (await client.get("/ui/recipients/p03?type=clicked")).text()
    assert clicked.count("<td>clicked</td>") == sum(1 for i in theirs if i["type"] == "clicked")
    assert "<td>opened</td>" not in clicked
    runs = await (await client.get("/ui/workflow")).text()
    assert "<td>ok</td>" in runs


async def test_tracked_data_shows_as_text_never_as_markup(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    message = Message(DELIVERY, f"r{XSS}", "c", "e")
    target = "https://shop.example/?q=" + XSS.replace(" ", "%20").replace('"', "%22")
    click = tokens.click_token(Click(message, 0, target.replace("<", "%3C").replace(">", "%3E")))
    await client.get(f"/c/{click}", headers={"User-Agent": XSS}, allow_redirects=False)
    await logged_in(client)
    for tab in ("stats", "urls", "logs"):
        page = await (await client.get(f"/ui/deliveries/{DELIVERY}?tab={tab}")).text()
        assert "<script>" not in page and "<img src=x onerror" not in page, tab
    logs = await (await client.get(f"/ui/deliveries/{DELIVERY}?tab=logs")).text()
    assert str(escape(XSS)) in logs, "the user agent is shown, escaped"
    evil = await client.get("/ui/deliveries/" + XSS.replace("/", "%2F").replace(" ", "%20"))
    assert evil.status == 404 and "<script>" not in await evil.text(), "no such delivery"


async def test_the_hot_tab_parses_a_costly_copy_off_the_event_loop(
    aiohttp_client: Any, settings: Settings
) -> None:
    """A stored copy the parser is quadratic on (a CLI registered it: no budget) shows a
    'too costly' note in the hot tab's frame, and other requests are answered meanwhile."""
    import asyncio
    from dataclasses import replace

    from tracker.keys import STORE
    from tracker.store.base import DeliveryTemplate

    app = trusting_app(replace(settings, decorate_seconds=3.0), Clock())
    client = await aiohttp_client(app)
    costly = "<a " * 40_000  # no ">" ever: CPython's parser is quadratic on it (minutes)
    await app[STORE].register_delivery(
        DeliveryTemplate("costly", "c", "e", costly, recipients=("r",))
    )
    await logged_in(client)
    hot = asyncio.ensure_future(client.get("/ui/deliveries/costly/email"))
    await asyncio.sleep(0.2)  # the hot tab is being parsed now (or its process is starting)
    health = await client.get("/healthz")
    assert health.status == 200 and not hot.done(), "answered while the copy was parsed"
    resp = await hot
    assert resp.status == 200 and "too costly to show now" in await resp.text()
