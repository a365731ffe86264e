"""The scripted mailing several test modules replay: thirty people, their opens and clicks,
a gateway and link checkers, sent through the real app on the test's clock."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import START, Clock
from tests.verdict_corpus import ANDROID_CHROME, APPLE_MAIL_MAC, DESKTOP_CHROME, OUTLOOK
from tracker.events import iso
from tracker.tokens import Click, Message, Tokens

DELIVERY = "fall-sale"
TEMPLATE = "".join(f'<p><a href="https://shop.example/{n}">Link {n}</a></p>' for n in range(4))


@dataclass
class Sent:
    """What the test did: each request with its time, kind and whether a person made it."""

    at: datetime
    kind: str  # "open", "click", "unsubscribe"
    who: str
    link: int | None
    user_agent: str
    person: bool
    method: str = "GET"


def script(rnd: random.Random, start: datetime = START) -> tuple[list[str], list[Sent]]:
    """Thirty people's mailing as it happened from ``start`` on, machines included."""
    people = [f"p{n:02d}" for n in range(30)]
    done: list[Sent] = []
    for n, who in enumerate(people[:27]):
        t = start + timedelta(minutes=10 + n)
        agent = rnd.choice([APPLE_MAIL_MAC, OUTLOOK])
        if rnd.random() < 0.7:
            for repeat in range(rnd.randrange(1, 4)):  # repeated opens
                done.append(Sent(t + timedelta(hours=repeat * 2), "open", who, None, agent, True))
            for _ in range(rnd.randrange(0, 4)):
                at = t + timedelta(hours=rnd.randrange(1, 30), seconds=rnd.randrange(3600))
                browser = rnd.choice([ANDROID_CHROME, DESKTOP_CHROME])
                done.append(Sent(at, "click", who, rnd.randrange(4), browser, True))
    for who in people[:2]:
        done.append(Sent(start + timedelta(days=2, minutes=int(who[1:])), "unsubscribe", who,
                         None, DESKTOP_CHROME, True))  # fmt: skip
    # Machines: a gateway following every link of three messages at once, a script's
    # open, and link checkers' HEAD requests.
    for who in people[20:23]:
        at = start + timedelta(hours=5, minutes=int(who[1:]))
        for link in range(4):
            done.append(Sent(at + timedelta(milliseconds=200 * link), "click", who, link,
                             DESKTOP_CHROME, False))  # fmt: skip
    done.append(Sent(start + timedelta(hours=7), "open", people[5], None, "curl/8.5.0", False))
    for who in people[10:12]:
        done.append(Sent(start + timedelta(hours=8), "click", who, 1, DESKTOP_CHROME, False,
                         method="HEAD"))  # fmt: skip
    done.sort(key=lambda s: s.at)
    return people, done


async def send(
    client: TestClient, clock: Clock, tokens: Tokens, s: Sent, delivery: str = DELIVERY
) -> None:
    clock.now = s.at
    message = Message(delivery, s.who, "autumn", "fall-email")
    address = "203.0.113.9" if s.person else "40.107.3.7"
    headers = {"User-Agent": s.user_agent, "X-Forwarded-For": address}
    if s.kind == "open":
        path = f"/o/{tokens.open_token(message)}.gif"
    elif s.kind == "click":
        assert s.link is not None
        path = f"/c/{tokens.click_token(Click(message, s.link, f'https://shop.example/{s.link}'))}"
    else:
        resp = await client.post(f"/u/{tokens.unsubscribe_token(message)}",
                                 data={"confirm": "yes"}, headers=headers)  # fmt: skip
        assert resp.status == 200
        return
    resp = await client.request(s.method, path, headers=headers, allow_redirects=False)
    assert resp.status in (200, 302)


async def mail(
    client: TestClient,
    clock: Clock,
    tokens: Tokens,
    auth: dict[str, str],
    start: datetime,
    delivery: str = DELIVERY,
    seed: int = 7,
    html: str = TEMPLATE,
) -> tuple[list[str], list[Sent]]:
    """Register the delivery (``html``: four links, to shop.example/0 … /3), report its
    sends and outcomes, then replay every hit of the script ``seed`` draws."""
    people, done = script(random.Random(seed), start)
    clock.now = start
    resp = await client.post("/api/v1/decorate", headers=auth, json={
        "delivery": delivery, "campaign": "autumn", "email": "fall-email", "recipient": "x",
        "html": html})  # fmt: skip
    assert resp.status == 200
    events = []
    for n, who in enumerate(people):
        events.append({"id": f"{delivery}-s{n}", "type": "sent", "delivery": delivery,
                       "recipient": who, "at": iso(start)})  # fmt: skip
        if n < 27:
            kind = {"type": "delivered"}
        elif n < 29:
            kind = {"type": "hard_bounced", "category": "invalid"}
        else:
            kind = {"type": "soft_bounced"}
        events.append({"id": f"{delivery}-o{n}", "delivery": delivery, "recipient": who,
                       "at": iso(start + timedelta(seconds=30)), **kind})  # fmt: skip
    resp = await client.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200
    for s in done:
        await send(client, clock, tokens, s, delivery)
    return people, done


async def all_reports(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    """Every delivery report, people only and with machines."""
    out = {}
    for name in ("stats", "urls", "hot-clicks", "timeline", "clients"):
        for bots in ("exclude", "include"):
            resp = await client.get(f"/api/v1/deliveries/{DELIVERY}/{name}?bots={bots}",
                                    headers=auth)  # fmt: skip
            assert resp.status == 200
            out[f"{name} {bots}"] = await resp.json()
    return out
