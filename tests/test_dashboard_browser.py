"""The marketer's dashboard in a real headless Chromium, on a campaign of three deliveries:
every figure of the deliveries list, the campaign page and the delivery pages against the
report API; the email as it looks in the hot-clicks frame (its inline styles and its own
image, never a tracking pixel); the logs' CSV against the API; recipients; the viewer's
time zone; 404s; and a screenshot of every page at 1280 and 360 px in ``test-artifacts/``."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip
from tests.conftest import API_KEY
from tests.helpers import START, Clock, trusting_app
from tests.mailing import mail
from tracker.config import Settings
from tracker.keys import WORKFLOW
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.browser
playwright_api = playwright_or_skip()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ZONE = "America/New_York"
RED = (217, 45, 32)
# The campaign: three deliveries of one email, three days apart, each its own script.
DELIVERIES = {"fall-sale": (7, 0), "fall-sale-reminder": (11, 3), "fall-sale-last-call": (13, 6)}
ROWS = (
    "sent",
    "opened",
    "clicks",
    "unique_clickers",
    "unsubscribed",
    "hard_bounced",
    "soft_bounced",
)
RATES = {"delivered": "delivery", "open_rate": "open", "click_rate": "click"}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid ``rgb`` PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def template(images: str, pixel: str) -> str:
    """The email: a logo from the sender's image host, a red button styled inline, three
    more links, and a tracking pixel someone pasted from a decorated copy."""
    button = (
        "display:inline-block;background-color:#d92d20;color:#ffffff;padding:12px 24px;"
        "border-radius:6px;font:bold 16px sans-serif;text-decoration:none"
    )
    links = "".join(f'<p><a href="https://shop.example/{n}">Link {n}</a></p>' for n in (1, 2, 3))
    return (
        '<html><head><title>Fall sale</title></head><body style="margin:0;background:#fdf6ec">'
        f'<img src="{images}/logo.png" alt="Shop" width="120" height="40">'
        '<h1 style="color:#7a2e0e;font-family:Georgia,serif">Fall sale</h1>'
        f'<p><a href="https://shop.example/0" style="{button}">Shop now</a></p>{links}'
        f'<img src="{pixel}" alt=""></body></html>'
    )


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def local(at: str) -> str:
    """How the dashboard shows ``at`` to a viewer in ``ZONE``."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
    return f"{moment.day} {moment:%b %Y, %H:%M}"


@pytest.fixture
async def images() -> AsyncIterator[tuple[str, list[str]]]:
    """The sender's image host on loopback, and the paths asked of it."""
    asked: list[str] = []

    async def logo(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=png(120, 40, (20, 90, 160)), content_type="image/png")

    app = web.Application()
    app.router.add_get("/logo.png", logo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), asked
    await server.close()


@pytest.fixture
async def campaign(
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    aiohttp_client: Any,
    images: tuple[str, list[str]],
) -> AsyncIterator[tuple[str, TestClient]]:
    """A tracker on loopback holding the campaign's three deliveries; and a client of it."""
    clock = Clock()
    server = TestServer(trusting_app(settings, clock), host="127.0.0.1")
    client = await aiohttp_client(server)
    base = str(server.make_url("")).rstrip("/")
    pixel = f"{base}/o/{tokens.open_token(Message('fall-sale', 'pasted', 'autumn', 'e'))}.gif"
    html = template(images[0], pixel)
    for delivery, (seed, day) in DELIVERIES.items():
        await mail(client, clock, tokens, auth, START + timedelta(days=day), delivery, seed, html)
    await client.app[WORKFLOW].run()  # a run now: no "workflow is late" warning on the pages
    yield base, client
    await client.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def shots(page: Any, name: str) -> None:
    """Screenshots of the page at 1280 and at 360 px wide; at 360 px nothing but a table's
    own scroller is wider than the screen."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-1280.png"), full_page=True)
    await page.set_viewport_size({"width": 360, "height": 740})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{name} is {width} px wide at 360 px"
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-360.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def api(client: TestClient, auth: dict[str, str], path: str) -> Any:
    resp = await client.get(path, headers=auth)
    assert resp.status == 200, path
    return await resp.json()


async def cells(page: Any, row: str) -> dict[str, str]:
    """A table row's cells by their ``data-col``."""
    found: dict[str, str] = await page.eval_on_selector(
        row,
        "r => Object.fromEntries([...r.querySelectorAll('[data-col]')]"
        ".map(c => [c.dataset.col, c.textContent.trim()]))",
    )
    return found


def expected_cells(stats: dict[str, Any]) -> dict[str, str]:
    out = {k: str(stats[k]) for k in ROWS}
    out.update({col: percent(stats["rates"][key]) for col, key in RATES.items()})
    return out


async def test_a_campaign_reads_right_in_the_dashboard(
    campaign: tuple[str, TestClient],
    browser: Any,
    auth: dict[str, str],
    images: tuple[str, list[str]],
) -> None:
    base, client = campaign
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id=ZONE, accept_downloads=True
    )
    page = await context.new_page()
    requests: list[str] = []  # every request the browser sent (one a policy stopped fails)
    page.on("requestfinished", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{base}/ui/login")
    await shots(page, "login")
    await page.fill("#key", API_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#deliveries")
    stats = {d: await api(client, auth, f"/api/v1/deliveries/{d}/stats") for d in DELIVERIES}

    # The deliveries list: every figure of every delivery, and the list's controls.
    for delivery, theirs in stats.items():
        shown = await cells(page, f"#deliveries tr[data-delivery='{delivery}']")
        assert {k: shown[k] for k in expected_cells(theirs)} == expected_cells(theirs)
        assert shown["last_activity"] == local(theirs["last_activity"])
    await shots(page, "deliveries")
    await page.click("a[data-sort=open_rate]")
    await page.wait_for_url("**sort=open_rate**")
    order = await page.eval_on_selector_all(
        "#deliveries tbody tr", "rs => rs.map(r => r.dataset.delivery)"
    )
    assert order == sorted(DELIVERIES, key=lambda d: -stats[d]["rates"]["open"])
    await page.goto(f"{base}/ui/?q=reminder")
    assert await page.eval_on_selector_all(
        "#deliveries tbody tr", "rs => rs.map(r => r.dataset.delivery)"
    ) == ["fall-sale-reminder"]
    day = (START + timedelta(days=6)).date().isoformat()
    await page.goto(f"{base}/ui/?from={day}&to={day}")
    assert await page.eval_on_selector_all(
        "#deliveries tbody tr", "rs => rs.map(r => r.dataset.delivery)"
    ) == ["fall-sale-last-call"]
    assert (await page.goto(f"{base}/ui/?from=30-11-2026")).status == 400

    # The campaign page: the same figures side by side, their totals, the rates' bars.
    await page.goto(f"{base}/ui/?campaign=autumn")
    await page.click("#deliveries tr[data-delivery='fall-sale'] td[data-col=campaign] a")
    await page.wait_for_selector("#campaign-deliveries")
    for delivery, theirs in stats.items():
        shown = await cells(page, f"#campaign-deliveries tr[data-delivery='{delivery}']")
        assert {k: shown[k] for k in expected_cells(theirs)} == expected_cells(theirs)
        assert shown["click_to_open"] == percent(theirs["rates"]["click_to_open"])
    totals = await cells(page, "#campaign-totals")
    for key in ROWS:
        assert totals[key] == str(sum(s[key] for s in stats.values())), key
    widths = {}
    for delivery in DELIVERIES:
        for kind in ("open", "click"):
            box = await page.locator(
                f"#rates-chart rect[data-delivery='{delivery}'][data-rate='{kind}']"
            ).bounding_box()
            widths[delivery, kind] = box["width"]
    top = max(widths.values())
    for (delivery, kind), width in widths.items():
        wanted = stats[delivery]["rates"][kind] / max(
            s["rates"][k] for s in stats.values() for k in ("open", "click")
        )
        assert abs(width / top - wanted) < 0.02, (delivery, kind)
    await shots(page, "campaign")
    assert (await page.goto(f"{base}/ui/campaigns/no-such-campaign")).status == 404

    # A delivery's statistics: tiles, the timeline, readable client bars.
    await page.goto(f"{base}/ui/deliveries/fall-sale")
    first = stats["fall-sale"]
    tiles = await page.eval_on_selector_all(
        ".tile",
        "ts => Object.fromEntries(ts.map(t => [t.dataset.tile,"
        " t.querySelector('.value').textContent]))",
    )
    assert tiles["delivered"] == percent(first["rates"]["delivery"])
    assert tiles["open_rate"] == percent(first["rates"]["open"])
    assert tiles["click_rate"] == percent(first["rates"]["click"])
    assert tiles["click_to_open"] == percent(first["rates"]["click_to_open"])
    assert tiles["unsubscribe_rate"] == percent(first["rates"]["unsubscribe"])
    assert tiles["bounces"] == str(first["hard_bounced"] + first["soft_bounced"])
    bots = first["bots"]
    assert tiles["machines"] == str(bots["machine_opens"] + bots["bot_opens"] + bots["bot_clicks"])
    for key in (*ROWS, "delivered"):
        assert await page.text_content(f"td[data-figure={key}]") == str(first[key])
    for key, value in first["rates"].items():
        assert await page.text_content(f"td[data-rate={key}]") == percent(value)
    for key, value in bots.items():
        assert await page.text_content(f"td[data-bots={key}]") == str(value)
    hours = (await api(client, auth, "/api/v1/deliveries/fall-sale/timeline"))["hours"]
    opened = await page.eval_on_selector_all(
        "#timeline-chart rect.opens", "rs => rs.map(r => +r.dataset.opened)"
    )
    clicks = await page.eval_on_selector_all(
        "#timeline-chart rect.clicks", "rs => rs.map(r => +r.dataset.clicks)"
    )
    assert sum(opened) == sum(h["opened"] for h in hours) and sum(clicks) == sum(
        h["clicks"] for h in hours
    )
    span = datetime.fromisoformat(hours[-1]["hour"][:-1]) - datetime.fromisoformat(
        hours[0]["hour"][:-1]
    )
    assert len(opened) == max(12, span // timedelta(hours=1) + 1), "every hour, empty ones too"
    cumulative = await page.eval_on_selector_all(
        "#timeline-chart circle.cumulative", "cs => cs.map(c => +c.dataset.cumulative)"
    )
    assert cumulative[-1] == sum(opened) and cumulative == sorted(cumulative)
    labels = await page.locator("#timeline-chart text.tick").all_text_contents()
    assert len(set(labels)) == len(labels) >= 2
    assert await page.locator(".axis.left text").count() == 5
    for selector in ("#clients-chart text", "#timeline-chart text"):
        size = await page.eval_on_selector(
            selector, "t => parseFloat(getComputedStyle(t).fontSize)"
        )
        assert size >= 12, selector
    shown_clients = await page.locator("#clients-chart text.label").all_text_contents()
    theirs_clients = (await api(client, auth, "/api/v1/deliveries/fall-sale/clients"))["clients"]
    assert shown_clients == [
        f"{c['client']} ({c['device']}): {c['opened']} opened, {c['clicks']} clicks"
        for c in theirs_clients
    ]
    await shots(page, "statistics")
    # Printed: no navigation or forms, the charts within the page, their text still 12 px+.
    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": 700, "height": 900})
    assert await page.eval_on_selector(".bar", "b => getComputedStyle(b).display") == "none"
    plot = await page.locator("#timeline-chart").bounding_box()
    assert 300 < plot["width"] and plot["x"] + plot["width"] <= 700
    size = await page.eval_on_selector("#clients-chart text", "t => getComputedStyle(t).fontSize")
    assert float(size.removesuffix("px")) >= 12
    await page.pdf(path=str(ARTIFACTS / "dashboard-statistics.pdf"))
    await page.emulate_media(media="screen")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.click("text=URLs and click streams")
    await page.wait_for_selector("#urls")
    listed_urls = await page.eval_on_selector_all(
        "#urls tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    theirs_urls = await api(client, auth, "/api/v1/deliveries/fall-sale/urls")
    assert listed_urls == [
        [str(u["link"]), u["url"], str(u["clicks"]), str(u["unique_clickers"]), percent(u["share"])]
        for u in theirs_urls
    ]
    await shots(page, "urls")

    # Hot clicks: the email as it looks, its shares beside it; no tracking pixel loads.
    before = len(requests)
    await page.click("text=Hot clicks")
    frame = await (await page.wait_for_selector("#hot-frame")).content_frame()
    await frame.wait_for_selector(".tracker-hot")
    await frame.wait_for_function(
        "document.images[0].complete && document.images[0].naturalWidth > 0"
    )
    colour = await frame.eval_on_selector(
        "a[data-tracker-link='0']", "a => getComputedStyle(a).backgroundColor"
    )
    assert colour == "rgb({}, {}, {})".format(*RED), "the button keeps its inline style"
    assert images[1] == ["/logo.png"], "the template's own image loaded, once"
    urls = await api(client, auth, "/api/v1/deliveries/fall-sale/urls")
    for u in urls:
        assert await frame.text_content(f".tracker-hot[data-link='{u['link']}']") == percent(
            u["share"]
        )
        listed = await cells(page, f"#hot-list tr[data-link='{u['link']}']")
        assert listed == {"share": percent(u["share"]), "clicks": str(u["clicks"])}
    await shots(page, "hot-clicks")
    followed = await frame.eval_on_selector(
        "a[data-tracker-link='1']",
        "a => a.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}))",
    )
    assert followed is False, "a link in the frame goes nowhere"
    assert [r for r in requests[before:] if "/o/" in r] == [], "no pixel left the frame"
    resp = await client.get("/api/v1/recipients/pasted/tracking", headers=auth)
    assert (await resp.json())["items"] == [], "the pasted pixel logged nothing"
    assert await api(client, auth, "/api/v1/deliveries/fall-sale/stats") == first

    # Tracking logs: compact rows, URLs shown, filters in the address, the CSV export.
    await page.click("text=Tracking logs")
    await page.wait_for_selector("#logs")
    heights = await page.eval_on_selector_all(
        "#logs tbody tr", "rs => rs.map(r => r.getBoundingClientRect().height)"
    )
    assert len(heights) == 50 and max(heights) < 40, "one line a hit"
    items = (await api(client, auth, "/api/v1/deliveries/fall-sale/logs?limit=50"))["items"]
    links = await page.locator("#logs tbody td.link").all_text_contents()
    assert links == [i["url"] or "" for i in items], "each link shown as its URL"
    agents = await page.eval_on_selector_all(
        "#logs td.ua", "cs => cs.map(c => [c.textContent, c.title])"
    )
    assert [a[1] for a in agents] == [i["user_agent"] for i in items]
    assert all(len(a[0]) <= 40 for a in agents), "user agents shortened, whole on hover"
    times = await page.locator("#logs tbody td.at").all_text_contents()
    assert times == [local(i["at"]) for i in items], "times in the viewer's zone"
    await page.select_option("select[name=verdict]", "bot")
    await page.select_option("select[name=type]", "clicked")
    await page.click("form.filters button")
    await page.wait_for_url("**verdict=bot**")
    assert "type=clicked" in page.url, "the filters are in the address"
    async with page.expect_download() as info:
        await page.click("#export-logs")
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    wanted = (
        await api(
            client, auth, "/api/v1/deliveries/fall-sale/logs?verdict=bot&type=clicked&limit=1000"
        )
    )["items"]
    assert len(exported) == len(wanted) > 0
    for row, item in zip(exported, wanted, strict=True):
        assert row["at"] == item["at"] and row["recipient"] == item["recipient"]
        assert row["url"] == item["url"] and row["user_agent"] == item["user_agent"]
        assert row["link"] == str(item["link"]) and row["verdict"] == item["verdict"] == "bot"
        assert row["reasons"].split() == item["reasons"]
    await shots(page, "logs")

    # Recipients: the search, a person's page with mailability and a machines toggle.
    await page.goto(f"{base}/ui/recipients")
    await page.fill("input[name=q]", "p2")
    await page.click("form.search button")
    await page.wait_for_selector("#recipients")
    found = await page.eval_on_selector_all(
        "#recipients tbody tr", "rs => rs.map(r => r.dataset.recipient)"
    )
    assert found == [f"p{n}" for n in range(20, 30)]
    await shots(page, "recipients")
    await page.click("a[href='/ui/recipients/p28']")
    await page.wait_for_selector("#mailability")
    answer = await api(client, auth, "/api/v1/recipients/p28/mailable")
    assert await page.text_content("#mailable") == ("yes" if answer["mailable"] else "no")
    assert await page.text_content("#mailable-reason") == answer["reason"] == "invalid"
    outcomes = await page.locator("#outcomes tbody tr td:nth-child(2)").all_text_contents()
    assert outcomes == ["hard_bounced"] * 3, "its hard bounce in each delivery"
    await page.goto(f"{base}/ui/recipients/p21")
    people = await page.locator("#tracking tbody tr").count()
    await page.check("#machines")
    await page.click("form.filters button")
    await page.wait_for_url("**bots=include**")
    everything = await api(client, auth, "/api/v1/recipients/p21/tracking?bots=include&limit=1000")
    assert await page.locator("#tracking tbody tr").count() == len(everything["items"]) > people
    assert await page.locator("#tracking tbody tr.bot").count() > 0
    await shots(page, "recipient")

    await page.goto(f"{base}/ui/workflow")
    await shots(page, "workflow")
    for path in ("/ui/deliveries/no-such-delivery", "/ui/recipients/no-such-person"):
        assert (await page.goto(base + path)).status == 404, path
    await shots(page, "unknown")
    assert errors == [], errors
    await context.close()
