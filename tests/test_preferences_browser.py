"""The tracking preferences page in a real headless Chromium, on a phone's screen: it
shows the person's choice, its buttons change it, and a scanner's GET or HEAD does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip
from tests.conftest import Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.browser
playwright_api = playwright_or_skip()

PHONE = {"width": 360, "height": 640}
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
async def tracker_url(settings: Settings) -> AsyncIterator[str]:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def phone() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            viewport=PHONE, user_agent=ANDROID_CHROME, is_mobile=True, has_touch=True
        )
        yield await context.new_page()
        await browser.close()


async def test_the_page_shows_and_its_buttons_change_the_choice(
    phone: Any, tracker_url: str, settings: Settings, rows: Rows
) -> None:
    token = Tokens(settings.secret_keys).preferences_token(Message("d", "ann", "c", "e"))
    url = f"{tracker_url}/p/{token}"
    # A link scanner's HEAD and GET first: nothing changes.
    async with aiohttp.ClientSession() as scanner:
        for method in ("HEAD", "GET"):
            async with scanner.request(method, url) as answer:
                assert answer.status == 200
    assert rows("SELECT * FROM consent") == []

    await phone.goto(url, wait_until="load")
    assert await phone.text_content("#state") == "not chosen yet"
    assert await phone.get_by_role("button", name="Do not measure").is_visible()
    assert await phone.get_by_role("group", name="Change your choice").count() == 1
    # Readable on a phone: nothing wider than the screen, text not shrunk.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    size = await phone.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 14
    assert rows("SELECT * FROM consent") == [], "showing the page changed nothing"

    async with phone.expect_navigation(wait_until="load"):
        await phone.get_by_role("button", name="Do not measure").click()
    assert await phone.text_content("#done") == "Saved: measuring not allowed"
    assert await phone.text_content("#state") == "measuring not allowed"
    assert rows("SELECT state, source FROM consent") == [{"state": "denied", "source": "page"}]

    await phone.reload(wait_until="load")  # a reload is a GET: it repeats nothing
    assert await phone.text_content("#state") == "measuring not allowed"
    async with phone.expect_navigation(wait_until="load"):
        await phone.get_by_role("button", name="Allow measuring").click()
    assert await phone.text_content("#state") == "measuring allowed"
    assert rows("SELECT state FROM consent") == [{"state": "granted"}]
    assert len(rows("SELECT id FROM consent_history")) == 2
