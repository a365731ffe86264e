"""Consent at every hit: a person who may not be tracked now is counted without identity,
in every message already sent, while the delivery's counts still move."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import PERSON, Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

LANDING = "https://shop.example/spring"
SENT_AT = "2026-01-05T09:00:00Z"  # long before the hits: the after-send signal stays quiet


async def consent_client(aiohttp_client: Any, settings: Settings, **changes: Any) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(replace(settings, **changes)), headers=PERSON
    )
    return client


async def sent(client: TestClient, auth: dict[str, str], *messages: Message) -> None:
    items = [
        {"id": f"s-{m.recipient}-{m.campaign}", "type": "sent", "delivery": m.delivery,
         "recipient": m.recipient, "campaign": m.campaign, "email": m.email,
         "address": f"{m.recipient}@example.org", "at": SENT_AT}
        for m in messages
    ]  # fmt: skip
    answer = await client.post("/api/v1/events", json=items, headers=auth)
    assert answer.status == 200


async def open_and_click(client: TestClient, tokens: Tokens, m: Message) -> None:
    """The pixel and a link of ``m``, answered as usual whatever the person's consent."""
    pixel = await client.get(f"/o/{tokens.open_token(m)}.gif")
    assert (pixel.status, pixel.content_type) == (200, "image/gif")
    link = await client.get(f"/c/{tokens.click_token(Click(m, 0, LANDING))}", allow_redirects=False)
    assert (link.status, link.headers["Location"]) == (302, LANDING)


async def stats(client: TestClient, auth: dict[str, str], delivery: str) -> tuple[int, int]:
    answer = await (await client.get(f"/api/v1/deliveries/{delivery}/stats", headers=auth)).json()
    return answer["opened"], answer["clicks"]


def stored_hits(rows: Rows) -> list[tuple[str, str | None, str]]:
    found = rows("SELECT recipient, ip, user_agent FROM hits ORDER BY id")
    return [(r["recipient"], r["ip"], r["user_agent"]) for r in found]


async def test_a_withdrawal_after_send_turns_later_hits_anonymous_and_counts_still_move(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    client = await consent_client(aiohttp_client, settings, consent="opt_out")
    ann = Message("spring", "ann", "promo", "e1")
    await sent(client, auth, ann)
    await open_and_click(client, tokens, ann)
    assert [r for r, _, _ in stored_hits(rows)] == ["ann", "ann"]
    assert await stats(client, auth, "spring") == (1, 1)

    withdrawn = await client.put(
        "/api/v1/recipients/ann/consent", json={"state": "denied"}, headers=auth
    )
    assert withdrawn.status == 200
    await open_and_click(client, tokens, ann)  # the same mail, already in the inbox

    hits = stored_hits(rows)
    assert [r for r, _, _ in hits[:2]] == ["ann", "ann"], "earlier hits stay without erase"
    assert hits[2:] == [("anonymous", None, ""), ("anonymous", None, "")]
    later = rows("SELECT recipient FROM events WHERE type IN ('opened', 'clicked') ORDER BY id")
    assert [r["recipient"] for r in later] == ["ann", "ann", "anonymous", "anonymous"]
    assert await stats(client, auth, "spring") == (2, 2), "the delivery's counts still move"
    tracking = await client.get("/api/v1/recipients/ann/tracking", headers=auth)
    kinds = sorted(i["type"] for i in (await tracking.json())["items"])
    assert kinds == ["clicked", "consent", "opened", "sent"], "nothing after the withdrawal"

    regranted = await client.put(
        "/api/v1/recipients/ann/consent", json={"state": "granted"}, headers=auth
    )
    assert regranted.status == 200
    await open_and_click(client, tokens, ann)
    assert [r for r, _, _ in stored_hits(rows)[4:]] == ["ann", "ann"]


async def test_opt_in_tracks_only_who_granted_and_a_campaign_may_differ(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    client = await consent_client(
        aiohttp_client, settings, consent="opt_in", consent_campaigns=("service=off",)
    )
    people = {"ann": "granted", "ben": "denied", "cyd": "unknown"}
    body = [{"recipient": who, "state": state} for who, state in people.items()]
    assert (await client.post("/api/v1/consent", json=body, headers=auth)).status == 200
    for who in (*people, "dee"):  # dee never stated anything
        await open_and_click(client, tokens, Message("d", who, "promo", "e"))
    await open_and_click(client, tokens, Message("d2", "dee", "service", "e"))

    named = [r for r, _, _ in stored_hits(rows)]
    assert named == ["ann", "ann", *["anonymous"] * 6, "dee", "dee"]
    assert await stats(client, auth, "d") == (4, 4)
    # Unsubscribing is the person's own request: it always names them.
    unsubscribe = tokens.unsubscribe_token(Message("d", "ben", "promo", "e"))
    assert (await client.post(f"/u/{unsubscribe}", data={})).status == 200
    assert rows("SELECT recipient FROM events WHERE type = 'unsubscribed'") == [
        {"recipient": "ben"}
    ]


async def test_with_consent_off_no_state_is_read(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    client = await consent_client(aiohttp_client, settings)
    denied = await client.put(
        "/api/v1/recipients/ann/consent", json={"state": "denied"}, headers=auth
    )
    assert denied.status == 200
    await open_and_click(client, tokens, Message("d", "ann", "c", "e"))
    assert [r for r, _, _ in stored_hits(rows)] == ["ann", "ann"]


async def test_a_browser_that_asks_not_to_be_tracked_is_counted_without_identity(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    ann = Message("d", "ann", "c", "e")
    link = f"/c/{tokens.click_token(Click(ann, 0, LANDING))}"
    for honour, signals in (("off", ["Sec-GPC", "DNT"]), ("on", [None, "Sec-GPC", "DNT"])):
        client = await consent_client(aiohttp_client, settings, honour_gpc=honour)
        for header in signals:
            headers = {header: "1"} if header else {}
            answer = await client.get(link, headers=headers, allow_redirects=False)
            assert (answer.status, answer.headers["Location"]) == (302, LANDING)
    named = [r for r, _, _ in stored_hits(rows)]
    assert named == ["ann", "ann", "ann", "anonymous", "anonymous"]
    assert (await stats(client, auth, "d"))[1] == 5, "every click still counts"


async def test_a_state_another_process_wrote_holds_at_the_next_hit(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    """The writer keeps the states it read (SQLite): one written meanwhile by another
    process (a second worker, a command-line import) is what the next hit obeys."""
    if settings.database_url:
        pytest.skip("PostgreSQL's writer keeps no states: every hit reads the table")
    client = await consent_client(aiohttp_client, settings, consent="opt_in")
    ann = Message("spring", "ann", "promo", "e1")
    await sent(client, auth, ann)
    granted = await client.put(
        "/api/v1/recipients/ann/consent", json={"state": "granted"}, headers=auth
    )
    assert granted.status == 200
    await open_and_click(client, tokens, ann)
    assert [r for r, _, _ in stored_hits(rows)] == ["ann", "ann"]
    other = sqlite3.connect(settings.sqlite_path)
    with other:
        other.execute("UPDATE consent SET state = 'denied' WHERE recipient = 'ann'")
    other.close()
    await open_and_click(client, tokens, ann)
    assert [r for r, _, _ in stored_hits(rows)][2:] == ["anonymous", "anonymous"]
