"""Consent at send: decorate gives a person who may not be tracked direct links and no
pixel (unsubscribe kept, "tracked": false), and rates are over the tracked messages."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from tests.conftest import PERSON, Rows
from tests.helpers import logged_in
from tracker.app import create_app
from tracker.cli import main
from tracker.config import Settings
from tracker.tokens import Message, Tokens

LANDING = "https://shop.example/spring"
TEMPLATE = f'<html><body><p>Spring sale</p><a href="{LANDING}">Shop</a></body></html>'
STATES = {"ann": "granted", "ben": "denied", "cyd": "unknown"}
PEOPLE = [*STATES, "dee"]  # dee never stated anything
TRACKED = {
    "off": {"ann", "ben", "cyd", "dee"},
    "opt_out": {"ann", "cyd", "dee"},
    "opt_in": {"ann"},
}


async def app_with(aiohttp_client: Any, settings: Settings, **changes: Any) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(replace(settings, **changes)), headers=PERSON
    )
    return client


async def with_states(client: TestClient, auth: dict[str, str]) -> None:
    body = [{"recipient": who, "state": state} for who, state in STATES.items()]
    assert (await client.post("/api/v1/consent", json=body, headers=auth)).status == 200


async def decorated(client: TestClient, auth: dict[str, str], campaign: str = "promo") -> Any:
    body = {"delivery": "spring", "campaign": campaign, "email": "e1", "html": TEMPLATE,
            "recipients": PEOPLE}  # fmt: skip
    answer = await client.post("/api/v1/decorate", json=body, headers=auth)
    assert answer.status == 200, await answer.text()
    return await answer.json()


def assert_copy(copy: dict[str, Any], tracked: bool, base_url: str) -> None:
    html = copy["html"]
    assert copy["tracked"] is tracked
    assert (f"{base_url}/o/" in html) is tracked, "the pixel"
    assert (f"{base_url}/c/" in html) is tracked, "tracked links and the honeypot"
    assert (f'href="{LANDING}"' in html) is not tracked, "the direct link"
    assert f'href="{base_url}/u/' in html, "the unsubscribe link stays"
    assert copy["headers"]["List-Unsubscribe"].startswith(f"<{base_url}/u/")
    assert copy["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("policy", ["off", "opt_out", "opt_in"])
async def test_decorate_under_each_policy(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], rows: Rows, policy: str
) -> None:
    client = await app_with(aiohttp_client, settings, consent=policy)
    await with_states(client, auth)
    copies = await decorated(client, auth)
    for who, copy in zip(PEOPLE, copies, strict=True):
        assert_copy(copy, who in TRACKED[policy], settings.base_url)
    marked = rows("SELECT recipient FROM untracked_messages ORDER BY recipient")
    assert [r["recipient"] for r in marked] == sorted(set(PEOPLE) - TRACKED[policy])


async def test_a_campaign_policy_overrides_and_a_new_grant_tracks_again(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], rows: Rows
) -> None:
    client = await app_with(
        aiohttp_client, settings, consent="opt_in", consent_campaigns=("receipts=off",)
    )
    await with_states(client, auth)
    assert all(c["tracked"] for c in await decorated(client, auth, "receipts"))
    assert rows("SELECT * FROM untracked_messages") == []
    assert [c["tracked"] for c in await decorated(client, auth)] == [True, False, False, False]
    granted = await client.put(
        "/api/v1/recipients/dee/consent", json={"state": "granted"}, headers=auth
    )
    assert granted.status == 200
    assert [c["tracked"] for c in await decorated(client, auth)] == [True, False, False, True]
    marked = rows("SELECT recipient FROM untracked_messages ORDER BY recipient")
    assert [r["recipient"] for r in marked] == ["ben", "cyd"]


@pytest.mark.usefixtures("cli_env")
async def test_the_command_line_decorates_untracked_too(
    aiohttp_client: Any,
    settings: Settings,
    auth: dict[str, str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await app_with(aiohttp_client, settings)
    await with_states(client, auth)
    (tmp_path / "email.html").write_text(TEMPLATE, encoding="utf-8")
    monkeypatch.setenv("TRACKER_CONSENT", "opt_in")
    monkeypatch.setenv("TRACKER_BASE_URL", settings.base_url)
    for who, tracked in (("ann", True), ("cyd", False)):
        ids = ["--delivery", "d1", "--campaign", "c", "--email", "e", "--recipient", who]
        done = await asyncio.to_thread(
            CliRunner().invoke, main, ["decorate", str(tmp_path / "email.html"), *ids, "--json"]
        )
        assert done.exit_code == 0, done.output
        assert_copy(json.loads(done.stdout), tracked, settings.base_url)


async def test_rates_are_over_the_tracked_messages(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], tokens: Tokens
) -> None:
    client = await app_with(aiohttp_client, settings, consent="opt_in")
    await with_states(client, auth)
    await decorated(client, auth)  # ann tracked; ben, cyd, dee not
    events = [
        {"id": f"{kind}-{who}", "type": kind, "delivery": "spring", "recipient": who,
         "campaign": "promo", "email": "e1", "at": "2026-01-05T09:00:00Z"}
        for who in PEOPLE for kind in ("sent", "delivered")
    ]  # fmt: skip
    assert (await client.post("/api/v1/events", json=events, headers=auth)).status == 200
    pixel = await client.get(f"/o/{tokens.open_token(Message('spring', 'ann', 'promo', 'e1'))}.gif")
    assert pixel.status == 200
    stats = await (await client.get("/api/v1/deliveries/spring/stats", headers=auth)).json()
    assert (stats["sent"], stats["tracked_sent"]) == (4, 1)
    assert (stats["delivered"], stats["tracked_delivered"]) == (4, 1)
    assert stats["opened"] == 1
    assert stats["rates"]["open"] == 1.0, "one open of the one tracked message, not 1 in 4"
    assert stats["rates"]["delivery"] == 1.0
    # The dashboard's list of deliveries gives the same rate as the statistics.
    await logged_in(client)
    listed = await client.get("/ui/deliveries.csv")
    assert listed.status == 200
    (row,) = [
        r for r in csv.DictReader(io.StringIO(await listed.text())) if r["delivery"] == "spring"
    ]
    assert float(row["open_rate"]) == 1.0 and int(row["sent"]) == 4
    # And so does the campaign's page, in its row of all its deliveries together.
    campaign = await client.get("/ui/campaigns/promo")
    assert campaign.status == 200
    totals = (await campaign.text()).split('id="campaign-totals"')[1].split("</tr>")[0]
    assert '<td class="num" data-col="open_rate">100' in totals, totals


async def test_the_view_in_browser_copy_follows_the_consent_of_now(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], tokens: Tokens
) -> None:
    client = await app_with(aiohttp_client, settings, consent="opt_in")
    html = TEMPLATE.replace("</body>", '<a href="{{view_in_browser_url}}">View</a></body>')
    body = {"delivery": "spring", "campaign": "promo", "email": "e1", "recipient": "cyd",
            "html": html}  # fmt: skip
    assert (await client.post("/api/v1/decorate", json=body, headers=auth)).status == 200
    view = f"/v/{tokens.view_token(Message('spring', 'cyd', 'promo', 'e1'))}"
    unknown = await (await client.get(view)).text()
    assert f'href="{LANDING}"' in unknown and "/c/" not in unknown
    granted = await client.put(
        "/api/v1/recipients/cyd/consent", json={"state": "granted"}, headers=auth
    )
    assert granted.status == 200
    tracked = await (await client.get(view)).text()
    assert f'href="{settings.base_url}/c/' in tracked and f'href="{LANDING}"' not in tracked
