"""The tracking preferences page /p/{token}: GET shows, POST changes, scanners change
nothing; decorate places its link."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import PERSON, Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.decorate import decorate_many
from tracker.tokens import Message, Tokens

ANN = Message("spring", "ann", "promo", "e1")


async def test_get_shows_post_changes_and_scanners_change_nothing(
    client: TestClient, tokens: Tokens, rows: Rows
) -> None:
    url = f"/p/{tokens.preferences_token(ANN)}"
    shown = await client.get(url)
    assert shown.status == 200
    assert shown.headers["Cache-Control"] == "no-store"
    assert "not chosen yet" in await shown.text()
    assert (await client.head(url)).status == 200
    scanned = await client.get(url, headers={"User-Agent": "Barracuda Sentinel (EE)"})
    assert scanned.status == 200
    assert rows("SELECT * FROM consent") == [] and rows("SELECT * FROM events") == []

    denied = await client.post(url, data={"state": "denied"})
    assert denied.status == 200
    assert "Saved: measuring not allowed" in await denied.text()
    stored = rows("SELECT recipient, state, source, text FROM consent")
    assert [(r["recipient"], r["state"], r["source"]) for r in stored] == [
        ("ann", "denied", "page")
    ]
    assert stored[0]["text"].startswith("May we measure when you open our emails")
    assert "measuring not allowed" in await (await client.get(url)).text()

    granted = await client.post(url, data={"state": "granted"}, allow_redirects=False)
    assert (granted.status, granted.headers["Location"]) == (303, f"{url}?saved=1")
    assert "Saved: measuring allowed" in await (await client.get(f"{url}?saved=1")).text()
    assert rows("SELECT state FROM consent") == [{"state": "granted"}]
    assert len(rows("SELECT id FROM consent_history")) == 2


async def test_bad_tokens_and_bad_forms_are_4xx(
    client: TestClient, tokens: Tokens, rows: Rows
) -> None:
    other_purpose = tokens.unsubscribe_token(ANN)
    assert (await client.get(f"/p/{other_purpose}")).status == 404
    assert (await client.post(f"/p/{other_purpose}", data={"state": "denied"})).status == 404
    assert (await client.get("/p/garbage")).status == 404
    url = f"/p/{tokens.preferences_token(ANN)}"
    for form in ({"state": "unknown"}, {"state": "yes"}, {}):
        answer = await client.post(url, data=form)
        assert answer.status == 400, form
    assert (await client.post(url, data={"state": "x" * 70_000})).status == 413
    assert rows("SELECT * FROM consent") == []


def test_decorate_places_the_link_and_a_footer_when_asked(tokens: Tokens) -> None:
    base = "https://t.example"
    own = '<html><body><a href="{{tracking_preferences_url}}">Prefs</a></body></html>'
    plain = "<html><body><p>Hi</p></body></html>"
    page = f"{base}/p/{tokens.preferences_token(ANN)}"
    [placed] = decorate_many(own, [ANN], tokens, base)
    assert f'href="{page}"' in placed.html and "Tracking preferences" not in placed.html
    [footer] = decorate_many(plain, [ANN], tokens, base, preferences=True)
    assert f'href="{page}">Tracking preferences</a>' in footer.html
    [none] = decorate_many(plain, [ANN], tokens, base)
    assert "/p/" not in none.html, "no policy, no footer"


async def test_the_api_adds_the_footer_only_under_a_policy(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str]
) -> None:
    body = {"delivery": "d", "campaign": "promo", "email": "e", "recipient": "ann",
            "html": "<html><body><p>Hi</p></body></html>"}  # fmt: skip
    for policy, footer in (("off", False), ("opt_out", True)):
        client = await aiohttp_client(create_app(replace(settings, consent=policy)), headers=PERSON)
        copy = await (await client.post("/api/v1/decorate", json=body, headers=auth)).json()
        assert ("Tracking preferences" in copy["html"]) is footer, policy
