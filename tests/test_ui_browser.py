"""The dashboard in a real headless Chromium: log in, read the tabs, see the hot clicks
drawn on the right links. Screenshots of each page go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip
from tests.conftest import API_KEY
from tests.helpers import START, Clock, trusting_app
from tests.mailing import DELIVERY, mail
from tracker.config import Settings
from tracker.tokens import Tokens

pytestmark = pytest.mark.browser
playwright_api = playwright_or_skip()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
async def dashboard(
    settings: Settings, tokens: Tokens, auth: dict[str, str], aiohttp_client: Any
) -> AsyncIterator[tuple[str, Any]]:
    """A tracker on a loopback port holding the scripted mailing; and a client of it."""
    clock = Clock()
    app = trusting_app(settings, clock)
    server = TestServer(app, host="127.0.0.1")
    client = await aiohttp_client(server)
    await mail(client, clock, tokens, auth, START)
    yield str(server.make_url("")).rstrip("/"), client
    await client.close()


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        yield await context.new_page()
        await browser.close()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


async def test_log_in_read_the_tabs_and_see_the_hot_clicks(
    dashboard: tuple[str, Any], page: Any, auth: dict[str, str]
) -> None:
    base, client = dashboard
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{base}/ui/")
    assert page.url == f"{base}/ui/login"
    await shot(page, "login")
    await page.fill("#key", API_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#deliveries")
    await shot(page, "deliveries")
    await page.click(f"a[href='/ui/deliveries/{DELIVERY}']")
    await page.wait_for_selector("#stats")
    stats = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)).json()
    for key in ("sent", "opened", "clicks", "unique_clickers"):
        shown = await page.text_content(f"td[data-figure={key}]")
        assert shown == str(stats[key]), key
    assert await page.locator("#timeline-chart rect").count() > 0
    await shot(page, "statistics")

    await page.click("text=URLs and click streams")
    await page.wait_for_selector("#urls")
    await shot(page, "urls")

    await page.click("text=Hot clicks")
    frame_element = await page.wait_for_selector("#hot-frame")
    frame = await frame_element.content_frame()
    await frame.wait_for_selector(".tracker-hot")
    urls = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/urls", headers=auth)).json()
    for u in urls:
        badge = await frame.text_content(f".tracker-hot[data-link='{u['link']}']")
        assert badge == f"{u['share'] * 100:.1f} %", u
        target = await frame.evaluate(
            f"document.querySelector(\"a[data-tracker-link='{u['link']}']\").href"
        )
        assert target == u["url"], "the share is drawn on the link it belongs to"
    await shot(page, "hot-clicks")

    await page.click("text=Tracking logs")
    await page.select_option("select[name=verdict]", "bot")
    await page.click("form.filters button")
    await page.wait_for_selector("#logs")
    assert await page.locator("#logs tbody tr.bot").count() == 15
    await shot(page, "logs")

    await page.goto(f"{base}/ui/recipients/p03?sort=asc")
    rows = "rs => rs.map(r => r.dataset.at)"
    times = await page.eval_on_selector_all("#tracking tbody tr", rows)
    assert times == sorted(times) and len(times) > 1
    await page.select_option("select[name=sort]", "desc")
    await page.click("form.filters button")
    await page.wait_for_selector("#tracking")
    descending = await page.eval_on_selector_all("#tracking tbody tr", rows)
    assert descending == sorted(times, reverse=True)
    await shot(page, "recipient")

    await page.goto(f"{base}/ui/workflow")
    outcomes = await page.locator("#runs tbody td:nth-child(3)").all_text_contents()
    assert outcomes and set(outcomes) == {"ok"}
    await shot(page, "workflow")
    assert errors == [], errors


async def test_a_delivery_html_with_scripts_runs_none_of_them_in_the_dashboard(
    dashboard: tuple[str, Any], page: Any, auth: dict[str, str]
) -> None:
    base, client = dashboard
    html = (
        "<html><head><title>Sale</title></head><body>"
        "<script>window.parent.document.title = 'taken'; document.title = 'taken'</script>"
        '<img src="x" onerror="window.parent.document.title = \'taken\'">'
        '<a href="https://shop.example/x">Shop</a></body></html>'
    )
    ids = {"delivery": "scripted", "campaign": "c", "email": "e", "recipient": "r"}
    resp = await client.post("/api/v1/decorate", headers=auth, json={**ids, "html": html})
    assert resp.status == 200
    await page.goto(f"{base}/ui/login")
    await page.fill("#key", API_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#deliveries")
    await page.goto(f"{base}/ui/deliveries/scripted?tab=hot")
    frame = await (await page.wait_for_selector("#hot-frame")).content_frame()
    await frame.wait_for_selector(".tracker-hot")
    assert await page.title() == "scripted · tracker"
    assert await frame.title() == "Sale", "the email's own script did not run"
    await shot(page, "hot-clicks-sandboxed")
