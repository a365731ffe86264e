"""POST /hooks/{sendgrid,mailgun,postmark}: the providers' documented samples, signed with
keys made here, become tracker events (on both stores); what does not authenticate is
refused and stores nothing."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tests.hookkit import (
    MAILGUN_KEY,
    POSTMARK_CREDENTIALS,
    SendGridSigner,
    mailgun_body,
    postmark_auth,
    sample,
)
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Message, Tokens

SG_MESSAGE = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
MG_MESSAGE = "20180622182958.1.48906CB188F1A454@exmple.org"


async def sent(client: TestClient, auth: dict[str, str], *items: dict[str, Any]) -> None:
    """The sending system's Sent events, as it posts them."""
    body = [{"type": "sent", "delivery": "d-1", "campaign": "c-1", "email": "e-1", **i}
            for i in items]  # fmt: skip
    response = await client.post("/api/v1/events", json=body, headers=auth)
    assert response.status == 200, await response.text()


def events(rows: Rows, kind: str) -> list[dict[str, Any]]:
    return rows(
        "SELECT recipient, delivery, category, reason, status, cause, event_id FROM events"
        " WHERE type = ?"
        " ORDER BY id",
        kind,
    )


async def metric(client: TestClient, provider: str, outcome: str) -> float:
    text = await (await client.get("/metrics")).text()
    line = f'tracker_hook_events_total{{outcome="{outcome}",provider="{provider}"}}'
    found = [row.split()[-1] for row in text.splitlines() if row.startswith(line)]
    return float(found[0]) if found else 0.0


# SendGrid ---------------------------------------------------------------------------


@pytest.fixture
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
async def sg(aiohttp_client: Any, settings: Settings, signer: SendGridSigner) -> TestClient:
    configured = replace(settings, sendgrid_public_key=signer.public)
    return await aiohttp_client(create_app(configured))


async def post_sg(client: TestClient, signer: SendGridSigner, payload: Any) -> Any:
    body = json.dumps(payload).encode()
    response = await client.post("/hooks/sendgrid", data=body, headers=signer.headers(body))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_sendgrid_samples_become_events_once(
    sg: TestClient, signer: SendGridSigner, auth: dict[str, str], rows: Rows
) -> None:
    await sent(sg, auth, {"id": "s-1", "recipient": "r-sg", "message": SG_MESSAGE,
                          "address": "example@test.com"})  # fmt: skip
    answer = await post_sg(sg, signer, sample("sendgrid", "sendgrid-delivered.json"))
    assert answer["results"][0]["status"] == "stored"
    assert answer["results"][0]["matched_by"] == "message_id"
    again = await post_sg(sg, signer, sample("sendgrid", "sendgrid-delivered.json"))
    assert again["results"][0]["status"] == "duplicate"
    assert [e["recipient"] for e in events(rows, "delivered")] == ["r-sg"]

    bounce = await post_sg(sg, signer, sample("sendgrid", "sendgrid-bounce-bounce.json"))
    # "500 unknown recipient" under 5.0.0: as some providers' filters word a refusal, so
    # the classifier keeps the address (24 h), as SendGrid's own "bounce" type agrees.
    [result] = bounce["results"]
    assert (result["type"], result["category"]) == ("hard_bounced", "spam_block")
    assert "disagrees" not in result
    [hard] = events(rows, "hard_bounced")
    assert (hard["recipient"], hard["category"]) == ("r-sg", "spam_block")
    assert (hard["reason"], hard["status"]) == ("500 unknown recipient", "5.0.0")
    assert hard["event_id"] == "sendgrid:6g4ZI7SA-xmRDv57GoPIPw=="

    deferred = await post_sg(sg, signer, sample("sendgrid", "sendgrid-deferred.json"))
    assert deferred["results"][0]["status"] == "ignored"  # still being retried: no bounce
    assert events(rows, "soft_bounced") == []

    complaint = await post_sg(sg, signer, sample("sendgrid", "sendgrid-spamreport.json"))
    assert complaint["results"][0]["type"] == "unsubscribed"
    assert complaint["results"][0]["cause"] == "complaint"
    [unsubscribed] = events(rows, "unsubscribed")
    assert (unsubscribed["recipient"], unsubscribed["cause"]) == ("r-sg", "complaint")
    mailable = await sg.get("/api/v1/recipients/r-sg/mailable", headers=auth)
    assert (await mailable.json())["mailable"] is False


async def test_sendgrid_blocked_and_dropped_keep_the_address(
    sg: TestClient, signer: SendGridSigner, auth: dict[str, str], rows: Rows
) -> None:
    await sent(sg, auth, {"id": "s-1", "recipient": "r-sg", "address": "Example@Test.com"})
    dropped = await post_sg(sg, signer, sample("sendgrid", "sendgrid-dropped.json"))
    result = dropped["results"][0]
    # "Bounced Address": SendGrid suppressed it; nothing says the mailbox is gone.
    assert (result["matched_by"], result["type"]) == ("address", "hard_bounced")
    assert result["category"] == "spam_block"
    blocked = await post_sg(sg, signer, sample("sendgrid", "sendgrid-bounce-blocked.json"))
    result = blocked["results"][0]
    # SendGrid calls it blocked (temporary); a 500 reply under 5.0.0 is permanent.
    assert (result["type"], result["category"], result["disagrees"]) == (
        "hard_bounced", "spam_block", "blocked",
    )  # fmt: skip
    assert [e["category"] for e in events(rows, "hard_bounced")] == ["spam_block", "spam_block"]


async def test_sendgrid_unknown_types_are_ignored_and_counted(
    sg: TestClient, signer: SendGridSigner, rows: Rows
) -> None:
    before = await metric(sg, "sendgrid", "ignored")
    answer = await post_sg(sg, signer, sample("sendgrid", "sendgrid-all-events.json"))
    ignored = [r["event"] for r in answer["results"] if r["status"] == "ignored"]
    assert ignored == ["processed", "deferred", "open", "click", "unsubscribe",
                       "group_unsubscribe", "group_resubscribe"]  # fmt: skip
    assert await metric(sg, "sendgrid", "ignored") == before + 7
    # No Sent names example@test.com here: the delivery events are answered, not guessed.
    assert {r["status"] for r in answer["results"] if r["status"] != "ignored"} == {"unmatched"}
    assert rows("SELECT count(*) AS n FROM events")[0]["n"] == 0


async def test_sendgrid_refuses_what_it_did_not_sign(
    sg: TestClient, signer: SendGridSigner, rows: Rows
) -> None:
    body = json.dumps(sample("sendgrid", "sendgrid-delivered.json")).encode()
    headers = signer.headers(body)
    tampered = body.replace(b"250 OK", b"250 ok")
    response = await sg.post("/hooks/sendgrid", data=tampered, headers=headers)
    assert (response.status, (await response.json())["error"]) == (403, "bad_signature")
    other = SendGridSigner().headers(body)
    assert (await sg.post("/hooks/sendgrid", data=body, headers=other)).status == 403
    unsigned = await sg.post("/hooks/sendgrid", data=body)
    assert unsigned.status == 401
    assert rows("SELECT count(*) AS n FROM events")[0]["n"] == 0


async def test_a_provider_not_configured_answers_404(client: TestClient) -> None:
    for provider in ("ses", "sendgrid", "mailgun", "postmark"):
        response = await client.post(f"/hooks/{provider}", data=b"[]")
        assert response.status == 404
        assert (await response.json())["error"] == "not_configured"


# Mailgun ----------------------------------------------------------------------------


@pytest.fixture
async def mg(aiohttp_client: Any, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(replace(settings, mailgun_signing_key=MAILGUN_KEY)))


async def post_mg(client: TestClient, data: dict[str, Any], token: str, at: int = 0) -> Any:
    body = mailgun_body(data, token, at or int(time.time()))
    return await client.post("/hooks/mailgun", json=body)


async def test_mailgun_samples_become_events(
    mg: TestClient, auth: dict[str, str], tokens: Tokens, rows: Rows
) -> None:
    await sent(
        mg, auth,
        {"id": "s-1", "recipient": "r-john", "message": MG_MESSAGE},
        {"id": "s-2", "recipient": "r-chris", "address": "christest123@test.com"},
        {"id": "s-3", "recipient": "r-test", "address": "test@test.com"},
    )  # fmt: skip
    delivered = await post_mg(mg, sample("mailgun", "mailgun-delivered.json"), "t" * 50)
    assert (await delivered.json())["results"][0]["status"] == "stored"
    delayed = await post_mg(
        mg, sample("mailgun", "mailgun-failed-permanent-delayed.json"), "u" * 50
    )
    assert (await delayed.json())["results"][0]["category"] == "invalid"  # 550 5.1.1
    temporary = await post_mg(mg, sample("mailgun", "mailgun-failed-temporary.json"), "v" * 50)
    result = (await temporary.json())["results"][0]
    assert (result["type"], result["category"]) == ("soft_bounced", None)  # 451 4.7.652
    # The complaint carries decorate's token in its variables, as Mailgun echoes them.
    complained = sample("mailgun", "mailgun-complained.json")
    token = tokens.bounce_token(Message("d-2", "r-foo", "c-2", "e-2"))
    complained["user-variables"] = {"tracker_message": token}
    answer = await (await post_mg(mg, complained, "w" * 50)).json()
    assert answer["results"][0]["matched_by"] == "token"
    assert [e["recipient"] for e in events(rows, "delivered")] == ["r-john"]
    assert [(e["recipient"], e["category"]) for e in events(rows, "hard_bounced")] == [
        ("r-chris", "invalid")
    ]
    assert [e["recipient"] for e in events(rows, "soft_bounced")] == ["r-test"]
    assert [(e["recipient"], e["delivery"]) for e in events(rows, "unsubscribed")] == [
        ("r-foo", "d-2")
    ]
    opened = await post_mg(mg, sample("mailgun", "mailgun-opened.json"), "x" * 50)
    assert (await opened.json())["results"][0]["status"] == "ignored"


async def test_mailgun_refuses_bad_stale_and_replayed_signatures(
    mg: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    await sent(mg, auth, {"id": "s-1", "recipient": "r-john", "address": "john@example.com"})
    data = sample("mailgun", "mailgun-delivered.json")
    body = mailgun_body(data, "a" * 50, int(time.time()))
    body["signature"]["signature"] = "0" * 64
    bad = await mg.post("/hooks/mailgun", json=body)
    assert (bad.status, (await bad.json())["error"]) == (403, "bad_signature")
    stale = await post_mg(mg, data, "b" * 50, int(time.time()) - 3600)
    assert (stale.status, (await stale.json())["error"]) == (403, "stale")
    unsigned = await mg.post("/hooks/mailgun", json={"event-data": data})
    assert unsigned.status == 401
    assert rows("SELECT count(*) AS n FROM events WHERE type = 'delivered'")[0]["n"] == 0
    first = await post_mg(mg, data, "c" * 50)
    assert first.status == 200
    replay = await mg.post("/hooks/mailgun", json=mailgun_body(data, "c" * 50, int(time.time())))
    assert (replay.status, (await replay.json())["error"]) == (403, "replayed")
    assert rows("SELECT count(*) AS n FROM events WHERE type = 'delivered'")[0]["n"] == 1


# Postmark ---------------------------------------------------------------------------


@pytest.fixture
async def pm(aiohttp_client: Any, settings: Settings) -> TestClient:
    configured = replace(settings, postmark_credentials=POSTMARK_CREDENTIALS)
    return await aiohttp_client(create_app(configured))


async def test_postmark_samples_become_events(
    pm: TestClient, auth: dict[str, str], tokens: Tokens, rows: Rows
) -> None:
    await sent(pm, auth, {"id": "s-1", "recipient": "r-pm", "delivery": "d-pm"})
    token = tokens.bounce_token(Message("d-pm", "r-pm", "c-pm", "e-pm"))
    for name in ("postmark-delivery.json", "postmark-bounce.json", "postmark-spam-complaint.json"):
        record = sample("postmark", name)
        record["Metadata"]["tracker_message"] = token
        response = await pm.post("/hooks/postmark", json=record, headers=postmark_auth())
        assert response.status == 200
        [result] = (await response.json())["results"]
        assert (result["status"], result["recipient"]) == ("stored", "r-pm")
        repeat = await pm.post("/hooks/postmark", json=record, headers=postmark_auth())
        assert (await repeat.json())["results"][0]["status"] == "duplicate"
    assert [e["recipient"] for e in events(rows, "delivered")] == ["r-pm"]
    [hard] = events(rows, "hard_bounced")
    # "Test bounce details" says nothing; HardBounce alone is no proof the mailbox is gone.
    assert (hard["category"], hard["event_id"]) == ("spam_block", "postmark:4323372036854775807")
    assert [e["cause"] for e in events(rows, "unsubscribed")] == ["complaint"]


async def test_postmark_refuses_missing_and_wrong_credentials(pm: TestClient, rows: Rows) -> None:
    record = sample("postmark", "postmark-delivery.json")
    assert (await pm.post("/hooks/postmark", json=record)).status == 401
    wrong = postmark_auth("postmark:not-the-password")
    assert (await pm.post("/hooks/postmark", json=record, headers=wrong)).status == 403
    garbage = {"Authorization": "Basic %%%"}
    assert (await pm.post("/hooks/postmark", json=record, headers=garbage)).status == 403
    assert rows("SELECT count(*) AS n FROM events")[0]["n"] == 0


async def test_what_decorate_gives_is_what_the_webhooks_match_on(
    aiohttp_client: Any, settings: Settings, signer: SendGridSigner, auth: dict[str, str],
    rows: Rows,
) -> None:  # fmt: skip
    configured = replace(
        settings, sendgrid_public_key=signer.public, mailgun_signing_key=MAILGUN_KEY
    )
    client = await aiohttp_client(create_app(configured))
    body = {"delivery": "d-dec", "campaign": "c-dec", "email": "e-dec",
            "recipients": ["r-sendgrid", "r-mailgun"], "html": "<p>Hello</p>"}  # fmt: skip
    response = await client.post("/api/v1/decorate", json=body, headers=auth)
    first, second = await response.json()
    # SendGrid returns custom_args as fields of each event.
    event = {**sample("sendgrid", "sendgrid-delivered.json")[0], **first["metadata"]}
    answer = await post_sg(client, signer, [event])
    assert answer["results"][0]["matched_by"] == "token"
    # Mailgun returns the variables of X-Mailgun-Variables as user-variables.
    data = sample("mailgun", "mailgun-delivered.json")
    data["user-variables"] = json.loads(second["headers"]["X-Mailgun-Variables"])
    assert (await (await post_mg(client, data, "m" * 50)).json())["results"][0]["matched_by"] == (
        "token"
    )
    found = rows("SELECT recipient, delivery FROM events WHERE type = 'delivered' ORDER BY id")
    assert [(r["recipient"], r["delivery"]) for r in found] == [
        ("r-sendgrid", "d-dec"), ("r-mailgun", "d-dec"),
    ]  # fmt: skip
