"""A scripted mailing through the real app: every number of every report is recounted here
from what the test itself sent."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.test_sending import START, Clock
from tests.verdict_corpus import ANDROID_CHROME, APPLE_MAIL_MAC, DESKTOP_CHROME, OUTLOOK
from tracker.app import create_app
from tracker.config import Settings
from tracker.events import iso
from tracker.tokens import Click, Message, Tokens

DELIVERY = "fall-sale"
TEMPLATE = "".join(f'<p><a href="https://shop.example/{n}">Link {n}</a></p>' for n in range(4))
CLIENTS = {
    APPLE_MAIL_MAC: ("Apple Mail", "desktop"),
    OUTLOOK: ("Outlook", "desktop"),
    ANDROID_CHROME: ("Chrome Mobile", "mobile"),
    DESKTOP_CHROME: ("Chrome", "desktop"),
}


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


async def send(client: TestClient, clock: Clock, tokens: Tokens, s: Sent) -> None:
    clock.now = s.at
    message = Message(DELIVERY, s.who, "autumn", "fall-email")
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


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def mail(
    client: TestClient, clock: Clock, tokens: Tokens, auth: dict[str, str], start: datetime
) -> tuple[list[str], list[Sent]]:
    """Register the delivery, report its sends and outcomes, then replay every hit."""
    people, done = script(random.Random(7), start)
    clock.now = start
    resp = await client.post("/api/v1/decorate", headers=auth, json={
        "delivery": DELIVERY, "campaign": "autumn", "email": "fall-email", "recipient": "x",
        "html": TEMPLATE})  # fmt: skip
    assert resp.status == 200
    events = []
    for n, who in enumerate(people):
        events.append({"id": f"s{n}", "type": "sent", "delivery": DELIVERY, "recipient": who,
                       "at": iso(start)})  # fmt: skip
        if n < 27:
            kind = {"type": "delivered"}
        elif n < 29:
            kind = {"type": "hard_bounced", "category": "invalid"}
        else:
            kind = {"type": "soft_bounced"}
        events.append({"id": f"o{n}", "delivery": DELIVERY, "recipient": who,
                       "at": iso(start + timedelta(seconds=30)), **kind})  # fmt: skip
    resp = await client.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200
    for s in done:
        await send(client, clock, tokens, s)
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


def trusting_app(settings: Settings, clock: Clock, **changes: Any) -> Any:
    proxies = (ipaddress.ip_network("127.0.0.1/32"),)
    return create_app(replace(settings, trusted_proxies=proxies, **changes), clock=clock)


async def test_every_report_number_matches_what_was_sent(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str]
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    people, done = await mail(client, clock, tokens, auth, START)

    # Recount, from what was sent.
    human = [s for s in done if s.person]
    first_open: dict[str, Sent] = {}
    for s in human:
        if s.kind == "open":
            first_open.setdefault(s.who, s)
    clicks = [s for s in human if s.kind == "click"]
    clickers = {s.who for s in clicks}
    unsubscribed = {s.who for s in human if s.kind == "unsubscribe"}
    activity = [s.at for s in human]

    stats = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/stats", headers=auth)).json()
    assert stats == {
        "delivery": DELIVERY, "sent": 30, "delivered": 27, "hard_bounced": 2, "soft_bounced": 1,
        "opened": len(first_open), "clicks": len(clicks), "unique_clickers": len(clickers),
        "unsubscribed": len(unsubscribed),
        "rates": {
            "delivery": rate(27, 30), "open": rate(len(first_open), 27),
            "click": rate(len(clickers), 27),
            "click_to_open": rate(len(clickers), len(first_open)),
            "unsubscribe": rate(len(unsubscribed), 27),
        },
        "first_activity": iso(min(activity)), "last_activity": iso(max(activity)),
        # HEAD requests are in the raw log only: they never make a Clicked.
        "bots": {"proxy_opens": 0, "machine_opens": 0, "bot_opens": 1, "bot_clicks": 12},
    }  # fmt: skip

    per_link = Counter(s.link for s in clicks)
    link_people = defaultdict(set)
    for s in clicks:
        link_people[s.link].add(s.who)
    expected_urls = [
        {"link": n, "url": f"https://shop.example/{n}", "clicks": per_link[n],
         "unique_clickers": len(link_people[n]), "share": rate(per_link[n], len(clicks)) or 0.0}
        for n in range(4)
    ]  # fmt: skip
    urls = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/urls", headers=auth)).json()
    assert urls == expected_urls
    hot = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/hot-clicks", headers=auth)).json()
    assert [(h["link"], h["share"]) for h in hot["links"]] == [
        (u["link"], u["share"]) for u in expected_urls
    ]

    hours: dict[str, Counter[str]] = defaultdict(Counter)
    for s in first_open.values():
        hours[s.at.strftime("%Y-%m-%dT%H:00:00Z")]["opened"] += 1
    for s in clicks:
        hours[s.at.strftime("%Y-%m-%dT%H:00:00Z")]["clicks"] += 1
    timeline = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/timeline",
                                       headers=auth)).json()  # fmt: skip
    assert timeline["hours"] == [
        {"hour": h, "opened": hours[h]["opened"], "clicks": hours[h]["clicks"]}
        for h in sorted(hours)
    ]

    by_client: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for s in first_open.values():
        by_client[CLIENTS[s.user_agent]]["opened"] += 1
    for s in clicks:
        by_client[CLIENTS[s.user_agent]]["clicks"] += 1
    found = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/clients",
                                    headers=auth)).json()  # fmt: skip
    assert {(c["client"], c["device"]): (c["opened"], c["clicks"]) for c in found["clients"]} == {
        key: (n["opened"], n["clicks"]) for key, n in by_client.items()
    }

    # The tracking logs: every request, page by page, with verdicts.
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        page = await client.get(
            f"/api/v1/deliveries/{DELIVERY}/logs?limit=7&after={after}", headers=auth
        )
        body = await page.json()
        items += body["items"]
        if body["next"] is None:
            break
        after = body["next"]
    assert len(items) == len(done)
    assert [(i["recipient"], i["type"], i["method"]) for i in items] == [
        (s.who, {"open": "opened", "click": "clicked"}.get(s.kind, "unsubscribed"), s.method
         if s.kind != "unsubscribe" else "POST") for s in done
    ]  # fmt: skip
    assert all(i["ip"] in ("203.0.113.0", "40.107.3.0") for i in items)
    bots = await client.get(f"/api/v1/deliveries/{DELIVERY}/logs?verdict=bot&limit=1000",
                            headers=auth)  # fmt: skip
    bot_items = (await bots.json())["items"]
    assert len(bot_items) == sum(1 for s in done if not s.person)
    assert all(i["reasons"] for i in bot_items)
    one = people[3]
    mine = await client.get(f"/api/v1/deliveries/{DELIVERY}/logs?recipient={one}&type=clicked",
                            headers=auth)  # fmt: skip
    assert len((await mine.json())["items"]) == sum(
        1 for s in done if s.who == one and s.kind == "click"
    )

    # One person's tracking: their events, filtered by time and sorted either way.
    since = iso(START + timedelta(hours=12))
    resp = await client.get(f"/api/v1/recipients/{one}/tracking?sort=asc&since={since}",
                            headers=auth)  # fmt: skip
    theirs = (await resp.json())["items"]
    expected = [s for s in human if s.who == one and iso(s.at) >= since
                and (s.kind == "click" or s is first_open.get(one))]  # fmt: skip
    assert [(i["type"], i["at"]) for i in theirs] == [
        ({"open": "opened", "click": "clicked"}[s.kind], iso(s.at)) for s in expected
    ]
