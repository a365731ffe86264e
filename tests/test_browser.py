"""A decorated email in a real headless Chromium: the pixel, the links, the unsubscribe form.

Three servers on loopback: tracker itself, a "webmail" that shows the decorated email,
and a "shop" that the email's links point to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip
from tests.conftest import Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.decorate import decorate
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.browser
playwright_api = playwright_or_skip()

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Spring sale</title></head>
<body>
<h1>Spring sale</h1>
<p><a id="shop" href="{shop}/sale?utm_source=email&amp;utm_medium=spring">Shop the sale</a></p>
<p><a id="blog" href="{shop}/blog">Read the blog</a></p>
<p><a id="mail" href="mailto:help@example.com">Write to us</a></p>
<p><a id="unsubscribe" href="{{{{unsubscribe_url}}}}">Unsubscribe</a></p>
</body></html>
"""


async def shop_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        title = f"Shop page {request.path}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[dict[str, str]]:
    tracker = TestServer(create_app(settings), host="127.0.0.1")
    shop = TestServer(await shop_app(), host="127.0.0.1")
    await tracker.start_server()
    await shop.start_server()
    yield {"tracker": str(tracker.make_url("")).rstrip("/"), "shop": str(shop.make_url(""))}
    await shop.close()
    await tracker.close()


@pytest.fixture
async def webmail(servers: dict[str, str], settings: Settings) -> AsyncIterator[str]:
    """Serves one decorated email per path, as a webmail would show it."""
    html = TEMPLATE.format(shop=servers["shop"].rstrip("/"))
    emails: dict[str, str] = {}
    for delivery in ("delivery-1", "delivery-2"):
        message = Message(delivery, "alice", "spring-campaign", "spring-email")
        result = decorate(html, message, Tokens(settings.secret_keys), servers["tracker"])
        emails[f"/{delivery}"] = result.html

    async def show(request: web.Request) -> web.Response:
        if request.path not in emails:
            raise web.HTTPNotFound()
        return web.Response(text=emails[request.path], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{delivery}", show)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        # Headless Chromium says so in its user agent (a bot's, rightly): look like a person.
        context = await browser.new_context(user_agent=DESKTOP_CHROME)
        yield await context.new_page()
        await browser.close()


DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)


def count(rows: Rows, event: str) -> int:
    return int(rows("SELECT count(*) AS n FROM events WHERE type = ?", event)[0]["n"])


async def test_browser_opens_clicks_and_unsubscribes(
    page: Any, webmail: str, servers: dict[str, str], rows: Rows
) -> None:
    # Opening the email loads the pixel: one Opened.
    await page.goto(f"{webmail}/delivery-1", wait_until="load")
    assert count(rows, "opened") == 1
    pixel = await page.evaluate(
        "() => [...document.images].map(i => [i.complete, i.naturalWidth, i.src])"
    )
    assert pixel[0][0] is True and pixel[0][1] == 1
    assert pixel[0][2].startswith(servers["tracker"] + "/o/")
    assert rows("SELECT verdict, client FROM hits") == [{"verdict": "human", "client": "Chrome"}]

    # The honeypot link is in the email, yet nobody can see or reach it.
    trap = page.locator("a[aria-hidden=true]")
    assert await trap.count() == 1
    assert not await trap.is_visible()
    assert await trap.bounding_box() is None

    # Opening it again, and the same email of another delivery: still one Opened.
    await page.reload(wait_until="load")
    await page.goto(f"{webmail}/delivery-2", wait_until="load")
    assert count(rows, "opened") == 1
    assert len(rows("SELECT id FROM hits WHERE route = 'open'")) == 3

    # A click lands on the target page and logs a Clicked, every time.
    for expected in (1, 2):
        await page.goto(f"{webmail}/delivery-1", wait_until="load")
        async with page.expect_navigation(wait_until="load"):
            await page.click("#shop")
        assert page.url == f"{servers['shop']}/sale?utm_source=email&utm_medium=spring"
        assert await page.title() == "Shop page /sale"
        assert count(rows, "clicked") == expected
    clicked = rows("SELECT link, url, delivery FROM events WHERE type = 'clicked'")
    assert {c["link"] for c in clicked} == {0}
    assert clicked[0]["delivery"] == "delivery-1"

    # The unsubscribe link shows a form; only pressing its button unsubscribes.
    await page.goto(f"{webmail}/delivery-1", wait_until="load")
    await page.click("#unsubscribe")
    await page.wait_for_selector("#confirm")
    assert count(rows, "unsubscribed") == 0
    await page.click("#confirm")
    await page.wait_for_selector("#done")
    assert await page.text_content("#done") == "You are unsubscribed"
    assert count(rows, "unsubscribed") == 1
