"""Consent in the dashboard, in a real headless Chromium: a delivery's tracked and untracked
sends, the rates' base, the consent mix of its recipients (linked to the recipients of each
state), the one line of a delivery where consent is not in use, and a person's consent with
its history. Screenshots at 1280 and 360 px go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip
from tests.conftest import API_KEY, PERSON
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.browser
playwright_api = playwright_or_skip()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TEMPLATE = (
    '<html><body><p>Spring sale</p><a href="https://shop.example/spring">Shop</a></body></html>'
)
# spring (campaign promo, opt_in): ann and eve granted (tracked), ben denied after changing
# twice, cyd said unknown, dee never said anything (ben, cyd, dee untracked).
# memo (campaign plain, off): fay and gus, who never said anything.
SPRING = ["ann", "ben", "cyd", "dee", "eve"]
MEMO = ["fay", "gus"]
BEN = [  # ben's changes as given: (state, source, wording, at)
    ("denied", "import", None, "2026-01-01T08:00:00Z"),
    ("granted", "page", "Allow measuring", "2026-01-02T08:00:00Z"),
    ("denied", "api", "Withdrawn by phone", "2026-01-03T08:00:00Z"),
]


@pytest.fixture
async def tracker(
    settings: Settings, tokens: Tokens, auth: dict[str, str], aiohttp_client: Any
) -> AsyncIterator[tuple[str, TestClient]]:
    """A tracker on loopback (policy opt_in, campaign plain off) holding spring and memo."""
    app = create_app(replace(settings, consent="opt_in", consent_campaigns=("plain=off",)))
    client: TestClient = await aiohttp_client(TestServer(app, host="127.0.0.1"), headers=PERSON)
    for who, value in (("ann", "granted"), ("cyd", "unknown"), ("eve", "granted")):
        body = {"state": value, "at": "2026-01-01T00:00:00Z"}
        put = await client.put(f"/api/v1/recipients/{who}/consent", json=body, headers=auth)
        assert put.status == 200
    for value, source, text, at in BEN:
        body = {"state": value, "source": source, "text": text, "at": at}
        put = await client.put("/api/v1/recipients/ben/consent", json=body, headers=auth)
        assert put.status == 200
    for delivery, campaign, people in (("spring", "promo", SPRING), ("memo", "plain", MEMO)):
        body = {"delivery": delivery, "campaign": campaign, "email": "e1", "html": TEMPLATE,
                "recipients": people}  # fmt: skip
        decorated = await client.post("/api/v1/decorate", json=body, headers=auth)
        assert decorated.status == 200
        events = [
            {"id": f"{delivery}-{who}-{kind}", "type": kind, "delivery": delivery,
             "recipient": who, "campaign": campaign, "email": "e1",
             "at": "2026-01-05T09:00:00Z"}
            for who in people for kind in ("sent", "delivered")
        ]  # fmt: skip
        assert (await client.post("/api/v1/events", json=events, headers=auth)).status == 200
    pixel = tokens.open_token(Message("spring", "ann", "promo", "e1"))
    assert (await client.get(f"/o/{pixel}.gif")).status == 200
    yield str(client.make_url("")).rstrip("/"), client
    await client.close()


@pytest.fixture
async def page(tracker: tuple[str, TestClient]) -> AsyncIterator[Any]:
    """A logged-in dashboard page in headless Chromium; no script error on any page."""
    base = tracker[0]
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto(f"{base}/ui/login")
        await tab.fill("#key", API_KEY)
        await tab.click("button[type=submit]")
        await tab.wait_for_selector("#deliveries")
        yield tab
        assert errors == [], errors
        await chromium.close()


async def shots(page: Any, name: str) -> None:
    """Screenshots at 1280 and 360 px; at 360 px only a table's own scroller is wider."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"consent-{name}-1280.png"), full_page=True)
    await page.set_viewport_size({"width": 360, "height": 740})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{name} is {width} px wide at 360 px"
    await page.screenshot(path=str(ARTIFACTS / f"consent-{name}-360.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def api(client: TestClient, auth: dict[str, str], path: str) -> Any:
    answer = await client.get(path, headers=auth)
    assert answer.status == 200, path
    return await answer.json()


async def test_a_delivery_shows_its_tracked_sends_and_consent_mix(
    tracker: tuple[str, TestClient], page: Any, auth: dict[str, str]
) -> None:
    base, client = tracker
    stats = await api(client, auth, "/api/v1/deliveries/spring/stats")
    assert (stats["sent"], stats["tracked_sent"], stats["tracked_delivered"]) == (5, 2, 2)
    assert stats["consent"] == {"granted": 2, "denied": 1, "unknown": 2}
    assert stats["opened"] == 1 and stats["rates"]["open"] == 0.5

    await page.goto(f"{base}/ui/deliveries/spring")
    tracked = page.locator(".tile[data-tile=tracked]")
    assert await tracked.locator(".value").text_content() == "2"
    assert await tracked.locator("[data-sends=untracked]").text_content() == "3"
    for rate in ("open", "click"):
        over = await page.text_content(f"[data-over={rate}]")
        assert over == "over 2 tracked messages delivered", rate
    assert await page.text_content(".tile[data-tile=open_rate] .value") == "50.0 %"
    assert await page.text_content("td[data-figure=tracked_sent]") == "2"
    assert await page.text_content("td[data-figure=tracked_delivered]") == "2"
    assert "opt_in" in await page.text_content("#consent-policy")
    assert await page.locator("#consent-unused").count() == 0

    # The mix: each state named in words (not by colour alone), its count and share, and
    # a bar as long as its share.
    shown = await page.eval_on_selector_all(
        "#consent-mix tbody tr",
        "rs => rs.map(r => [r.dataset.consent, r.querySelector('th a').textContent,"
        " r.querySelector('[data-col=n]').textContent,"
        " r.querySelector('[data-col=share]').textContent])",
    )
    assert shown == [
        ["granted", "granted", "2", "40.0 %"],
        ["denied", "denied", "1", "20.0 %"],
        ["unknown", "unknown", "2", "40.0 %"],
    ]
    assert "5 recipients" in await page.text_content("#consent-mix caption")
    for state, share in (("granted", 0.4), ("denied", 0.2), ("unknown", 0.4)):
        row = f"#consent-mix tr[data-consent={state}]"
        bar = await page.locator(f"{row} rect.consent-{state}").bounding_box()
        whole = await page.locator(f"{row} rect.track").bounding_box()
        assert abs(bar["width"] / whole["width"] - share) < 0.01, state
    await shots(page, "delivery")

    # Each state opens the delivery's recipients of that state now.
    await page.click("#consent-mix tr[data-consent=denied] th a")
    await page.wait_for_selector("#consent-filter")
    listed = await page.eval_on_selector_all(
        "#recipients tbody tr", "rs => rs.map(r => r.dataset.recipient)"
    )
    assert listed == ["ben"]
    await page.go_back()
    await page.click("#consent-mix tr[data-consent=unknown] th a")
    await page.wait_for_selector("#consent-filter")
    listed = await page.eval_on_selector_all(
        "#recipients tbody tr", "rs => rs.map(r => r.dataset.recipient)"
    )
    assert listed == ["cyd", "dee"]
    await shots(page, "recipients-unknown")

    # A delivery under the policy off whose people never said anything: one line.
    memo = await api(client, auth, "/api/v1/deliveries/memo/stats")
    assert memo["consent"] == {"granted": 0, "denied": 0, "unknown": 2}
    assert memo["tracked_sent"] == memo["sent"] == 2
    await page.goto(f"{base}/ui/deliveries/memo")
    line = await page.text_content("#consent-unused")
    assert "off" in line and "none of its 2 recipients" in line
    assert await page.locator("#consent-mix").count() == 0
    assert await page.text_content(".tile[data-tile=tracked] [data-sends=untracked]") == "0"


async def test_a_person_shows_their_consent_and_its_latest_changes(
    tracker: tuple[str, TestClient], page: Any, auth: dict[str, str]
) -> None:
    base, client = tracker
    given = await api(client, auth, "/api/v1/recipients/ben/consent")
    await page.goto(f"{base}/ui/recipients/ben")
    assert await page.text_content("#consent-state") == "denied"
    assert await page.text_content("#consent-source") == "api"
    assert await page.get_attribute("#consent-given time", "datetime") == given["at"]
    assert given["at"].startswith(BEN[-1][3][:19])
    assert await page.text_content("#consent-text") == "Withdrawn by phone"
    assert (
        await page.text_content("#consent-tracked")
        == "not tracked under the policy opt_in (campaigns with a policy of their own may differ)"
    )
    history = await page.eval_on_selector_all(
        "#consent-history tbody tr",
        "rs => rs.map(r => [...r.cells].slice(1, 4).map(c => c.textContent))",
    )
    assert history == [[s, source, text or ""] for s, source, text, _ in reversed(BEN)]
    given_at = await page.eval_on_selector_all(
        "#consent-history tbody tr td:first-child time", "ts => ts.map(t => t.dateTime)"
    )
    assert given_at == [h["at"] for h in given["history"]], "newest first, as the API"
    await shots(page, "recipient")

    await page.goto(f"{base}/ui/recipients/ann")
    assert await page.text_content("#consent-state") == "granted"
    assert (await page.text_content("#consent-tracked")).startswith("tracked under the policy")
    await page.goto(f"{base}/ui/recipients/dee")
    assert await page.text_content("#consent-state") == "unknown"
    assert await page.text_content("#consent-given") == "never stated"
    empty = await page.text_content("#consent-history tbody")
    assert empty.strip() == "None: never stated (unknown)."

    # Many changes: the latest ten, newest first.
    for n in range(12):
        body = {"state": ("granted", "denied")[n % 2], "at": f"2026-02-{n + 1:02d}T00:00:00Z"}
        put = await client.put("/api/v1/recipients/hal/consent", json=body, headers=auth)
        assert put.status == 200
    await page.goto(f"{base}/ui/recipients/hal")
    states = await page.eval_on_selector_all(
        "#consent-history tbody tr", "rs => rs.map(r => r.dataset.state)"
    )
    assert states == ["denied", "granted"] * 5
    assert await page.text_content("#consent-state") == "denied"
    assert "The 10 latest changes are shown" in await page.content()
