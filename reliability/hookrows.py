"""Row 17: provider webhooks under retries and forged signatures.

Posts to the four ``/hooks/…`` routes built from the providers' documented samples (each
with its own event id, person and message), signed as each provider signs: SNS messages
with a certificate served over https on loopback (a CA made here, given to the server as
``SSL_CERT_FILE``), SendGrid with an ECDSA key, Mailgun with an HMAC key, Postmark with
basic auth. A tenth are retries of an earlier post (SNS and SendGrid resend the same bytes,
Mailgun signs a retry anew, Postmark resends it); one in a hundred carries a bad
signature. Nothing may be a 5xx, every forged post must be refused and store nothing, a
retry must store nothing, and no event may be stored twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reliability import rawhttp
from reliability.figures import Figure
from reliability.harness import AUTH, database, start
from reliability.rawhttp import Reply, Request
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

PEOPLE = 500
JSON = ("Content-Type", "application/json")
PROVIDERS = ("ses", "sendgrid", "mailgun", "postmark")
_SES = ("ses-delivery.json", "ses-bounce-with-dsn.json", "ses-complaint-with-feedback.json")
_SENDGRID = ("sendgrid-delivered.json", "sendgrid-bounce-bounce.json",
             "sendgrid-spamreport.json", "sendgrid-deferred.json")  # fmt: skip
_MAILGUN = ("mailgun-delivered.json", "mailgun-failed-permanent-delayed.json",
            "mailgun-failed-temporary.json", "mailgun-complained.json")  # fmt: skip
_POSTMARK = ("postmark-delivery.json", "postmark-bounce.json", "postmark-spam-complaint.json")


class Posts:
    """Builds each provider's post for one event of one person."""

    def __init__(self, sns: SnsHost, rng: random.Random) -> None:
        self.sns = sns
        self.sendgrid = SendGridSigner()
        self.rng = rng

    def ses(self, n: int, person: int, bad: bool) -> Request:
        name = self.rng.choice(_SES)
        body = sample("ses", name)
        body["mail"]["messageId"] = f"m-{person}"
        address = f"p{person}@example.com"
        text = json.dumps(body).replace("jane@example.com", address)
        text = text.replace("richard@example.com", address)
        envelope = sample("ses", "sns-notification.json")
        envelope.pop("Subject", None)
        envelope.update(TopicArn=TOPIC, MessageId=f"sns-{n}", Message=text)
        signed = self.sns.sign(envelope, self.rng.choice(["1", "2"]))
        if bad:
            signed["Message"] = signed["Message"].replace(address, "p0@example.com")
        return Request("POST", "/hooks/ses", (JSON,), json.dumps(signed).encode())

    def sendgrid_post(self, n: int, person: int, bad: bool) -> Request:
        event = sample("sendgrid", self.rng.choice(_SENDGRID))[0]
        event.update(sg_event_id=f"sg-{n}", email=f"p{person}@example.com",
                     sg_message_id=f"m-{person}")  # fmt: skip
        body = json.dumps([event]).encode()
        headers = self.sendgrid.headers(body, str(int(time.time())))
        if bad:
            body = body.replace(b"example.com", b"example.org")
        return Request("POST", "/hooks/sendgrid", tuple(headers.items()), body)

    def mailgun(self, n: int, person: int, bad: bool) -> Request:
        data = sample("mailgun", self.rng.choice(_MAILGUN))
        data["id"] = f"mg-{n}"
        data["recipient"] = f"p{person}@example.com"
        data.setdefault("message", {}).setdefault("headers", {})["message-id"] = f"m-{person}"
        return self.mailgun_signed(data, bad)

    def mailgun_signed(self, data: dict[str, Any], bad: bool = False) -> Request:
        body = mailgun_body(data, secrets.token_hex(25), int(time.time()))
        if bad:
            body["signature"]["signature"] = secrets.token_hex(32)
        return Request("POST", "/hooks/mailgun", (JSON,), json.dumps(body).encode())

    def postmark(self, n: int, person: int, bad: bool) -> Request:
        record = sample("postmark", self.rng.choice(_POSTMARK))
        record.update(ID=10_000_000 + n, MessageID=f"m-{person}")
        record["Recipient" if record["RecordType"] == "Delivery" else "Email"] = (
            f"p{person}@example.com"
        )
        if record["RecordType"] == "Delivery":
            record["MessageID"] = f"m-{person}"
            record["DeliveredAt"] = f"2026-11-0{1 + n % 9}T10:00:00Z"
        auth = postmark_auth("postmark:forged-password" if bad else POSTMARK_CREDENTIALS)
        return Request(
            "POST", "/hooks/postmark", (*auth.items(), JSON), json.dumps(record).encode()
        )

    def build(self, provider: str, n: int, bad: bool) -> Request:
        person = self.rng.randrange(PEOPLE)
        maker = {"ses": self.ses, "sendgrid": self.sendgrid_post, "mailgun": self.mailgun,
                 "postmark": self.postmark}[provider]  # fmt: skip
        return maker(n, person, bad)


def plan(
    posts: Posts, count: int, rng: random.Random, answered: list[Request]
) -> Iterator[tuple[str, Request]]:
    """``(kind, request)``: kind is ``original``, ``retry`` or ``bad``. A retry repeats
    a post already answered, as a provider retries one it saw fail or time out."""
    for n in range(count):
        roll = rng.random()
        if roll < 0.10 and answered:
            earlier = rng.choice(answered)
            if earlier.target == "/hooks/mailgun":  # Mailgun signs each attempt anew
                data = json.loads(earlier.body)["event-data"]
                yield "retry", posts.mailgun_signed(data)
            else:
                yield "retry", earlier
        elif roll < 0.11:
            yield "bad", posts.build(rng.choice(PROVIDERS), n, True)
        else:
            yield "original", posts.build(PROVIDERS[n % 4], n, False)


async def _run(work: Path, count: int, seed: int) -> dict[str, Any]:
    folder = work / "sns"
    folder.mkdir(parents=True)
    sns = SnsHost(folder)
    await sns.start()
    rng = random.Random(seed)
    posts = Posts(sns, rng)
    server = start(
        work, "hooks",
        SSL_CERT_FILE=str(sns.ca_file), TRACKER_SES_TOPICS=TOPIC, TRACKER_SES_CERT_HOSTS=sns.host,
        TRACKER_MAILGUN_SIGNING_KEY=MAILGUN_KEY, TRACKER_POSTMARK_CREDENTIALS=POSTMARK_CREDENTIALS,
        TRACKER_SENDGRID_PUBLIC_KEY=posts.sendgrid.public,
    )  # fmt: skip
    people = [{"id": f"s-{i}", "type": "sent", "delivery": "d-hooks", "recipient": f"r{i}",
               "message": f"m-{i}", "address": f"p{i}@example.com"}
              for i in range(PEOPLE)]  # fmt: skip
    sent = Request("POST", "/api/v1/events", (*AUTH.items(), JSON), json.dumps(people).encode())
    announced: list[int] = []
    await rawhttp.run(server.port, [sent], lambda _, __, r: announced.append(r.status if r else 0))
    tally: dict[str, Any] = {"statuses": Counter(), "problems": Counter(), "kinds": Counter()}
    if announced != [200]:
        tally["problems"]["Sent events not stored"] += 1
    kinds: dict[int, str] = {}
    answered: list[Request] = []

    def requests() -> Iterator[Request]:
        for i, (kind, request) in enumerate(plan(posts, count, rng, answered)):
            kinds[i] = kind
            yield request

    def seen(i: int, request: Request, reply: Reply | None) -> None:
        kind = kinds[i]
        if kind == "original" and reply is not None and reply.status == 200:
            answered.append(request)
        tally["kinds"][kind] += 1
        if reply is None:
            tally["problems"]["no answer"] += 1
            return
        tally["statuses"][reply.status] += 1
        if reply.status >= 500:
            tally["problems"]["5xx"] += 1
        elif kind == "bad" and reply.status not in (401, 403):
            tally["problems"]["forged post not refused"] += 1
        elif kind != "bad" and reply.status != 200:
            tally["problems"][f"{kind} answered {reply.status}"] += 1
        elif kind == "retry":
            stored = [r for r in json.loads(reply.body)["results"]
                      if r["status"].startswith("stored")]  # fmt: skip
            if stored:
                tally["problems"]["retry stored"] += 1

    await rawhttp.run(server.port, requests(), seen, concurrency=8)
    server.stop()
    await sns.stop()
    tally["fetches"] = sns.certificate_fetches
    return tally


def hooks(work: Path, count: int, seed: int) -> Figure:
    began = time.monotonic()
    tally = asyncio.run(_run(work, count, seed))
    with database(work / "data" / "tracker.db") as conn:
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT event_id FROM events WHERE event_id IS NOT NULL"
            " GROUP BY event_id HAVING count(*) > 1)"
        ).fetchone()[0]
        delivered_twice = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE type = 'delivered'"
            " GROUP BY delivery, message HAVING count(*) > 1)"
        ).fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM events WHERE type != 'sent'").fetchone()[0]
    kinds, problems = tally["kinds"], tally["problems"]
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(tally["statuses"].items()))
    refused = kinds["bad"] - problems["forged post not refused"]
    return Figure(
        "provider webhooks: retries and forged signatures",
        f"{sum(kinds.values()):,} posts over 4 providers ({kinds['original']} originals,"
        f" {kinds['retry']} retries, {kinds['bad']} bad signatures): answers {{{shown}}};"
        f" bad refused {refused}/{kinds['bad']}; {stored} events stored, {twice} stored twice,"
        f" {delivered_twice} messages with two Delivered; certificate fetched"
        f" {tally['fetches']}x; problems: {dict(problems) or 'none'}",
        "0 5xx; every bad signature refused; 0 duplicate events; retries store nothing",
        not problems and twice == 0 and delivered_twice == 0,
        time.monotonic() - began,
    )
