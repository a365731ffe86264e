"""Bad input on /hooks/…: authenticated payloads whose fields have every wrong type, and
garbage bodies, get a 4xx or a 200 with each event reported, never a 5xx, and store
events only for the people announced (on both stores)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tests.hookkit import (
    MAILGUN_KEY,
    POSTMARK_CREDENTIALS,
    TOPIC,
    SendGridSigner,
    SnsHost,
    mailgun_body,
    postmark_auth,
    sample,
)
from tracker.app import create_app
from tracker.config import Settings

ODD = [None, 1, -1.5, True, [], {}, "", "x" * 5000, "\ud800", "2026-13-45T99:00:00Z", [{}]]
GARBAGE = [b"", b"null", b"[]", b"{}", b"[[[[" * 3000, b"\xff\xfe", b'"x"', b"1e999999"]


def mutants(payload: Any) -> Iterator[Any]:
    """``payload`` with each key of each object (to depth 2) set to each odd value."""
    if isinstance(payload, list):
        for item in mutants(payload[0]):
            yield [item]
        return
    for key, value in payload.items():
        for odd in ODD:
            yield {**payload, key: odd}
        if isinstance(value, dict):
            for inner in value:
                for odd in ODD[:6]:
                    yield {**payload, key: {**value, inner: odd}}


@pytest.fixture
async def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SnsHost]:
    sns = SnsHost(tmp_path)
    await sns.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(sns.ca_file))
    yield sns
    await sns.stop()


async def test_no_payload_gives_a_5xx(
    aiohttp_client: Any, settings: Settings, hosts: SnsHost, auth: dict[str, str], rows: Rows
) -> None:
    signer = SendGridSigner()
    configured = replace(
        settings, ses_topics=(TOPIC,), ses_cert_hosts=(hosts.host,),
        sendgrid_public_key=signer.public, mailgun_signing_key=MAILGUN_KEY,
        postmark_credentials=POSTMARK_CREDENTIALS,
    )  # fmt: skip
    client: TestClient = await aiohttp_client(create_app(configured))
    statuses: dict[int, int] = {}
    people = ["example@test.com", "christest123@test.com", "foo@example.com",
              "john@example.com", "jane@example.com"]  # fmt: skip
    sent = [{"id": f"s-{i}", "type": "sent", "delivery": "d-1", "recipient": f"r-{i}",
             "address": a} for i, a in enumerate(people)]  # fmt: skip
    assert (await client.post("/api/v1/events", json=sent, headers=auth)).status == 200

    async def post(path: str, body: bytes, headers: dict[str, str]) -> None:
        response = await client.post(path, data=body, headers=headers)
        assert response.status < 500, (path, body[:200], await response.text())
        statuses[response.status] = statuses.get(response.status, 0) + 1

    for body in GARBAGE:
        await post("/hooks/ses", body, {})
        await post("/hooks/sendgrid", body, signer.headers(body))
        await post("/hooks/mailgun", body, {})
        await post("/hooks/postmark", body, postmark_auth())
    n = 0
    for name in ("sendgrid-bounce-bounce.json", "sendgrid-spamreport.json"):
        for mutant in mutants(sample("sendgrid", name)):
            body = json.dumps(mutant).encode("utf-8", "surrogatepass")
            await post("/hooks/sendgrid", body, signer.headers(body))
    for name in ("mailgun-failed-permanent-delayed.json", "mailgun-complained.json"):
        for mutant in mutants(sample("mailgun", name)):
            n += 1
            signed = mailgun_body(mutant, f"token-{n}", int(time.time()))
            body = json.dumps(signed).encode("utf-8", "surrogatepass")
            await post("/hooks/mailgun", body, {"Content-Type": "application/json"})
    for name in ("postmark-bounce.json", "postmark-delivery.json"):
        for mutant in mutants(sample("postmark", name)):
            body = json.dumps(mutant).encode("utf-8", "surrogatepass")
            await post("/hooks/postmark", body, postmark_auth())
    envelope = hosts.notification("ses-bounce-with-dsn.json", "m-1")
    for mutant in mutants(json.loads(envelope["Message"])):
        n += 1
        signed = hosts.notification("ses-bounce-with-dsn.json", f"m-{n}")
        signed = hosts.sign({**signed, "Message": json.dumps(mutant)})
        await post("/hooks/ses", json.dumps(signed).encode(), {})
    for mutant in mutants(envelope):
        body = json.dumps(mutant, default=str).encode("utf-8", "surrogatepass")
        await post("/hooks/ses", body, {})
    assert set(statuses) <= {200, 400, 401, 403, 413}, statuses
    # What was stored is about the people announced, and about no one else.
    found = rows("SELECT DISTINCT recipient FROM events")
    assert {r["recipient"] for r in found} <= {f"r-{i}" for i in range(len(people))}
    assert rows("SELECT count(*) AS n FROM events WHERE type != 'sent'")[0]["n"] > 0


async def test_a_status_is_stored_only_as_an_enhanced_code(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], rows: Rows
) -> None:
    signer = SendGridSigner()
    client = await aiohttp_client(create_app(replace(settings, sendgrid_public_key=signer.public)))
    sent = [{"id": "s-1", "type": "sent", "delivery": "d-1", "recipient": "r-1",
             "address": "example@test.com"}]  # fmt: skip
    assert (await client.post("/api/v1/events", json=sent, headers=auth)).status == 200
    for n, status in enumerate(["x" * 5000, "5.1.1 <b>", "bogus"]):
        event = {**sample("sendgrid", "sendgrid-bounce-bounce.json")[0], "status": status}
        event["sg_event_id"] = f"e-{n}"
        body = json.dumps([event]).encode()
        response = await client.post("/hooks/sendgrid", data=body, headers=signer.headers(body))
        assert response.status == 200
    found = rows("SELECT status FROM events WHERE type = 'hard_bounced' ORDER BY id")
    assert [r["status"] for r in found] == [None, "5.1.1", None]
