"""POST /hooks/ses: SNS messages signed (versions 1 and 2) with a certificate served over
https on loopback by a CA made here (``SSL_CERT_FILE`` names it, as the system's trust
store), carrying the SES documentation's notifications; on both stores."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tests.hookkit import TOPIC, SnsHost, sample
from tracker.app import create_app
from tracker.config import Settings


@pytest.fixture
async def sns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SnsHost]:
    folder = tmp_path / "sns"
    folder.mkdir()
    host = SnsHost(folder)
    await host.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(host.ca_file))
    yield host
    await host.stop()


@pytest.fixture
async def ses(aiohttp_client: Any, settings: Settings, sns: SnsHost) -> TestClient:
    configured = replace(settings, ses_topics=(TOPIC,), ses_cert_hosts=(sns.host,))
    return await aiohttp_client(create_app(configured))


async def post(client: TestClient, message: dict[str, Any]) -> Any:
    response = await client.post("/hooks/ses", data=json.dumps(message))
    assert response.status == 200, await response.text()
    return await response.json()


async def sent(client: TestClient, auth: dict[str, str]) -> None:
    people = [("r-jane", "jane@example.com"), ("r-mary", "mary@example.com"),
              ("r-richard", "Richard@Example.com")]  # fmt: skip
    body = [{"id": f"s-{r}", "type": "sent", "delivery": "d-ses", "recipient": r, "address": a}
            for r, a in people]  # fmt: skip
    assert (await client.post("/api/v1/events", json=body, headers=auth)).status == 200


def kinds(rows: Rows) -> list[tuple[str, str, str | None]]:
    found = rows("SELECT type, recipient, category FROM events WHERE type != 'sent' ORDER BY id")
    return [(r["type"], r["recipient"], r["category"]) for r in found]


async def test_a_subscription_is_confirmed_by_visiting_its_url(
    ses: TestClient, sns: SnsHost
) -> None:
    confirmation = sample("ses", "sns-subscription-confirmation.json")
    confirmation["TopicArn"] = TOPIC
    confirmation["SubscribeURL"] = (
        f"https://{sns.host}/?Action=ConfirmSubscription&Token=2336412f37"
    )
    assert await post(ses, sns.sign(confirmation)) == {"confirmed": True}
    assert sns.confirmations == ["2336412f37"]
    elsewhere = {**confirmation, "SubscribeURL": "https://attacker.example/?Token=1"}
    response = await ses.post("/hooks/ses", data=json.dumps(sns.sign(elsewhere)))
    assert (response.status, (await response.json())["error"]) == (403, "subscribe_host")
    assert sns.confirmations == ["2336412f37"]


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_notifications_become_events_once(
    ses: TestClient, sns: SnsHost, auth: dict[str, str], rows: Rows, version: str
) -> None:
    await sent(ses, auth)
    delivery = await post(ses, sns.notification("ses-delivery.json", "m-1", version))
    assert [r["status"] for r in delivery["results"]] == ["stored"]
    bounce = await post(ses, sns.notification("ses-bounce-with-dsn.json", "m-2", version))
    # "smtp; 550 5.1.1 <jane@example.com>... User": the mailbox does not exist.
    assert [(r["type"], r["category"]) for r in bounce["results"]] == [("hard_bounced", "invalid")]
    unknown = await post(ses, sns.notification("ses-bounce-without-dsn.json", "m-3", version))
    # Permanent with no status and no diagnostic: never enough to drop an address for good.
    assert [r["category"] for r in unknown["results"]] == ["spam_block", "spam_block"]
    complaint = await post(
        ses, sns.notification("ses-complaint-with-feedback.json", "m-4", version)
    )
    assert complaint["results"][0]["cause"] == "complaint"
    retried = await post(ses, sns.notification("ses-bounce-with-dsn.json", "m-2", version))
    assert [r["status"] for r in retried["results"]] == ["duplicate"]
    assert kinds(rows) == [
        ("delivered", "r-jane", None),
        ("hard_bounced", "r-jane", "invalid"),
        ("hard_bounced", "r-jane", "spam_block"),
        ("hard_bounced", "r-richard", "spam_block"),
        ("unsubscribed", "r-richard", None),
    ]
    assert sns.certificate_fetches == 1  # cached after the first message


async def test_the_status_code_decides_not_the_providers_type(
    ses: TestClient, sns: SnsHost, auth: dict[str, str], rows: Rows
) -> None:
    await sent(ses, auth)
    # The documented DSN bounce as SES reports some 5.x.x failures: Transient.
    notification = sns.notification("ses-bounce-with-dsn.json", "m-1")
    message = json.loads(notification["Message"])
    message["bounce"]["bounceType"] = "Transient"
    signed = sns.sign({**notification, "Message": json.dumps(message)})
    [result] = (await post(ses, signed))["results"]
    assert (result["type"], result["category"], result["disagrees"]) == (
        "hard_bounced", "invalid", "Transient",
    )  # fmt: skip
    assert kinds(rows) == [("hard_bounced", "r-jane", "invalid")]


async def test_what_sns_did_not_sign_is_refused(
    ses: TestClient, sns: SnsHost, auth: dict[str, str], rows: Rows
) -> None:
    await sent(ses, auth)
    good = sns.notification("ses-delivery.json", "m-1")

    async def refused(message: dict[str, Any], status: int, code: str) -> None:
        response = await ses.post("/hooks/ses", data=json.dumps(message))
        assert (response.status, (await response.json())["error"]) == (status, code)

    await refused(
        {**good, "Message": good["Message"].replace("jane", "mary")}, 403, "bad_signature"
    )
    await refused({**good, "Signature": "AAAA"}, 403, "bad_signature")
    await refused(sns.sign({**good, "TopicArn": TOPIC + "-other"}), 403, "unknown_topic")
    # A certificate from a host not allowed (or not over https) is never fetched.
    for url in ("https://evil.example.com/SimpleNotificationService-x.pem",
                f"http://{sns.host}/SimpleNotificationService-test.pem",
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                f"https://{sns.host}/?Action=ConfirmSubscription"):  # fmt: skip
        await refused({**good, "SigningCertURL": url}, 403, "cert_host")
    await refused(json.loads(good["Message"]), 401, "unsigned")  # raw delivery: no signature
    assert sns.certificate_fetches == 1
    assert kinds(rows) == []


async def test_a_certificate_from_an_untrusted_server_is_not_used(
    ses: TestClient, sns: SnsHost, auth: dict[str, str], rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")  # the loopback CA is no longer trusted
    await sent(ses, auth)
    response = await ses.post(
        "/hooks/ses", data=json.dumps(sns.notification("ses-delivery.json", "m-1"))
    )
    assert response.status == 503
    assert sns.certificate_fetches == 0
    assert kinds(rows) == []
