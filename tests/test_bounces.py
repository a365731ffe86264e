"""``POST /api/v1/bounces``: real bounce and complaint messages in, events out, on both
stores; and the ``X-Tracker-Message`` token and VERP address that ``decorate`` gives."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from tests.bounce_corpus import CORPUS
from tests.conftest import Rows
from tests.helpers import Clock
from tracker.app import create_app
from tracker.cli import main
from tracker.config import Settings

RFC822 = {"Content-Type": "message/rfc822"}
# Postfix's DSN for an unknown user (550 5.1.1), one recipient: kijitora@example.co.jp.
UNKNOWN_USER = "lhost-postfix-04.eml"
RETURNED_ID = "<A8F82EDD-E518-4F5C-8C70-BC4EFF24AB9F@example.ne.jp>"
FAILED = "kijitora@example.co.jp"
HTML = '<html><body><a href="https://shop.example.com/">Shop</a></body></html>'


def corpus(name: str) -> bytes:
    return (CORPUS / "messages" / name).read_bytes()


def with_token(raw: bytes, token: str) -> bytes:
    """The bounce as it comes back for a message sent with tracker's header."""
    marked = raw.replace(
        b"\nSubject: TEST\n", f"\nSubject: TEST\nX-Tracker-Message: {token}\n".encode(), 1
    )
    assert marked != raw
    return marked


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, clock: Clock) -> TestClient:
    return await aiohttp_client(create_app(settings, clock=clock))


async def decorate(api: TestClient, auth: dict[str, str], recipient: str) -> dict[str, Any]:
    body = {"delivery": "d1", "campaign": "c1", "email": "e1", "recipient": recipient}
    resp = await api.post("/api/v1/decorate", json={**body, "html": HTML}, headers=auth)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def bounce(
    api: TestClient, auth: dict[str, str], raw: bytes, query: str = ""
) -> dict[str, Any]:
    resp = await api.post(f"/api/v1/bounces{query}", data=raw, headers={**auth, **RFC822})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_a_bounce_with_the_token_of_a_decorated_message_logs_once_on_its_recipient(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    decorated = await decorate(api, auth, "alice")
    token = decorated["headers"]["X-Tracker-Message"]
    assert "bounce_address" not in decorated  # no bounce domain set
    raw = with_token(corpus(UNKNOWN_USER), token)

    first = await bounce(api, auth, raw)
    assert first["kind"] == "dsn"
    (result,) = first["results"]
    assert result == {
        "address": FAILED,
        "status": "5.1.1",
        "reply": "550 5.1.1 Address rejected kijitora@example.co.jp (in reply to RCPT TO)",
        "type": "hard_bounced",
        "category": "invalid",
        "reason": "user_unknown",
        "delivery": "d1",
        "recipient": "alice",
        "stored": True,
    }
    again = await bounce(api, auth, raw)
    assert again["results"][0]["stored"] is False
    assert again["results"][0]["duplicate"] is True
    stored = rows("SELECT type, delivery, recipient, campaign, email, category, status, address"
                  " FROM events WHERE type = 'hard_bounced'")  # fmt: skip
    assert stored == [
        {"type": "hard_bounced", "delivery": "d1", "recipient": "alice", "campaign": "c1",
         "email": "e1", "category": "invalid", "status": "5.1.1", "address": FAILED}
    ]  # fmt: skip
    resp = await api.get("/api/v1/recipients/alice/mailable", headers=auth)
    assert (await resp.json())["reason"] == "invalid"
    tracking = await (await api.get("/api/v1/recipients/alice/tracking", headers=auth)).json()
    (logged,) = [i for i in tracking["items"] if i["type"] == "hard_bounced"]
    assert (logged["category"], logged["status"]) == ("invalid", "5.1.1")


async def test_the_verp_envelope_recipient_names_the_message(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], rows: Rows
) -> None:
    api = await aiohttp_client(
        create_app(replace(settings, bounce_domain="bounces.example.com"), clock=Clock())
    )
    decorated = await decorate(api, auth, "bob")
    address = decorated["bounce_address"]
    token = decorated["headers"]["X-Tracker-Message"]
    assert address == f"b-{token}@bounces.example.com"
    # The returned copy carries no header; the envelope recipient does.
    body = await bounce(api, auth, corpus(UNKNOWN_USER), f"?envelope={address}")
    assert body["results"][0]["recipient"] == "bob"
    assert rows("SELECT recipient FROM events WHERE type = 'hard_bounced'") == [
        {"recipient": "bob"}
    ]


async def test_a_tampered_token_is_no_match(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    decorated = await decorate(api, auth, "alice")
    token = decorated["headers"]["X-Tracker-Message"]
    raw = with_token(corpus(UNKNOWN_USER), token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    result = (await bounce(api, auth, raw))["results"][0]
    assert (result["recipient"], result["delivery"], result["stored"]) == (None, None, False)
    assert rows("SELECT count(*) AS n FROM events WHERE type = 'hard_bounced'") == [{"n": 0}]


async def test_the_message_id_then_the_address_of_a_sent_event_match(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    sent = [
        {"id": "s1", "type": "sent", "delivery": "d2", "recipient": "carol",
         "message": RETURNED_ID, "address": "other@example.org"},
        {"id": "s2", "type": "sent", "delivery": "d3", "recipient": "dave",
         "address": "Kijitora@Example.co.jp"},
    ]  # fmt: skip
    resp = await api.post("/api/v1/events", json=sent, headers=auth)
    assert resp.status == 200
    # The returned message's Message-ID is carol's Sent: it wins over the address.
    by_id = (await bounce(api, auth, corpus(UNKNOWN_USER)))["results"][0]
    assert (by_id["delivery"], by_id["recipient"], by_id["stored"]) == ("d2", "carol", True)
    # A bounce of another message to that address: the latest Sent to it (any case).
    other = corpus(UNKNOWN_USER).replace(b"7FE851AC10D@", b"7FE851AC10E@", 1)
    other = other.replace(RETURNED_ID.encode(), b"<unknown-id@example.ne.jp>", 1)
    by_address = (await bounce(api, auth, other))["results"][0]
    assert (by_address["delivery"], by_address["recipient"]) == ("d3", "dave")
    assert by_address["stored"] is True
    assert rows("SELECT recipient FROM events WHERE type = 'hard_bounced' ORDER BY id") == [
        {"recipient": "carol"},
        {"recipient": "dave"},
    ]


async def test_unmatched_and_dry_run_results_store_nothing(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    unmatched = (await bounce(api, auth, corpus(UNKNOWN_USER)))["results"][0]
    assert (unmatched["recipient"], unmatched["stored"]) == (None, False)
    assert unmatched["category"] == "invalid"
    decorated = await decorate(api, auth, "alice")
    raw = with_token(corpus(UNKNOWN_USER), decorated["headers"]["X-Tracker-Message"])
    dry = (await bounce(api, auth, raw, "?dry_run=true"))["results"][0]
    assert (dry["recipient"], dry["stored"]) == ("alice", False)
    assert rows("SELECT count(*) AS n FROM events WHERE type <> 'sent'") == [{"n": 0}]


async def test_a_complaint_unsubscribes_with_its_cause(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    sent = {"id": "s1", "type": "sent", "delivery": "d1", "recipient": "erin",
            "address": "redacted@example.net"}  # fmt: skip
    assert (await api.post("/api/v1/events", json=[sent], headers=auth)).status == 200
    body = await bounce(api, auth, corpus("arf-01.eml"))
    assert body["kind"] == "arf"
    (result,) = body["results"]
    assert (result["type"], result["recipient"], result["stored"]) == ("complained", "erin", True)
    assert rows("SELECT type, recipient, cause FROM events WHERE type = 'unsubscribed'") == [
        {"type": "unsubscribed", "recipient": "erin", "cause": "complaint"}
    ]
    resp = await api.get("/api/v1/recipients/erin/mailable", headers=auth)
    assert (await resp.json())["reason"] == "unsubscribed"
    items = await (await api.get("/api/v1/events?type=unsubscribed", headers=auth)).json()
    assert items["items"][0]["cause"] == "complaint"


@pytest.mark.usefixtures("cli_env")
async def test_the_export_carries_status_and_cause(api: TestClient, auth: dict[str, str]) -> None:
    sent = [
        {"id": "s1", "type": "sent", "delivery": "d1", "recipient": "erin",
         "address": "redacted@example.net"},
        {"id": "s2", "type": "sent", "delivery": "d1", "recipient": "fay", "address": FAILED},
    ]  # fmt: skip
    assert (await api.post("/api/v1/events", json=sent, headers=auth)).status == 200
    await bounce(api, auth, corpus("arf-01.eml"))
    await bounce(api, auth, corpus(UNKNOWN_USER))
    result = await asyncio.to_thread(CliRunner().invoke, main, ["export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    exported = list(csv.DictReader(io.StringIO(result.stdout)))
    by_type = {row["type"]: row for row in exported}
    assert by_type["unsubscribed"]["cause"] == "complaint"
    bounced = by_type["hard_bounced"]
    assert (bounced["status"], bounced["category"], bounced["recipient"]) == (
        "5.1.1",
        "invalid",
        "fay",
    )


async def test_reports_of_other_kinds_change_nothing(
    api: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    sent = {"id": "s1", "type": "sent", "delivery": "d1", "recipient": "erin",
            "address": "kijitora@example.com"}  # fmt: skip
    assert (await api.post("/api/v1/events", json=[sent], headers=auth)).status == 200
    auth_failure = await bounce(api, auth, corpus("arf-18.eml"))
    assert auth_failure["kind"] == "arf"
    assert all(r["type"] is None and not r["stored"] for r in auth_failure["results"])
    assert (await bounce(api, auth, corpus("rfc3834-01.eml"))) == {
        "kind": "autoreply",
        "results": [],
    }
    delayed = await bounce(api, auth, corpus("lhost-outlook-06.eml"))
    assert delayed == {"kind": "dsn", "results": []}
    assert rows("SELECT count(*) AS n FROM events WHERE type <> 'sent'") == [{"n": 0}]


@pytest.mark.parametrize(
    ("body", "headers", "query", "status"),
    [
        (b"", RFC822, "", 400),
        (b"\x00\x01\x02 binary", RFC822, "", 400),
        (b"From: a@b.example\n\nhello", {"Content-Type": "application/json"}, "", 415),
        (b"From: a@b.example\n\nhello", RFC822, "?dry_run=maybe", 400),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    api: TestClient,
    auth: dict[str, str],
    body: bytes,
    headers: dict[str, str],
    query: str,
    status: int,
) -> None:
    resp = await api.post(f"/api/v1/bounces{query}", data=body, headers={**auth, **headers})
    assert resp.status == status
    assert "error" in await resp.json()


async def test_the_bounce_route_needs_the_api_key(api: TestClient) -> None:
    resp = await api.post("/api/v1/bounces", data=corpus(UNKNOWN_USER), headers=RFC822)
    assert resp.status == 401
