"""A scripted mailing through the real app: every number of every report is recounted here
from what the test itself sent."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from tests.helpers import START, Clock, trusting_app
from tests.mailing import DELIVERY, Sent, mail
from tests.verdict_corpus import ANDROID_CHROME, APPLE_MAIL_MAC, DESKTOP_CHROME, OUTLOOK
from tracker.config import Settings
from tracker.events import iso
from tracker.tokens import Tokens

CLIENTS = {
    APPLE_MAIL_MAC: ("Apple Mail", "desktop"),
    OUTLOOK: ("Outlook", "desktop"),
    ANDROID_CHROME: ("Chrome Mobile", "mobile"),
    DESKTOP_CHROME: ("Chrome", "desktop"),
}


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


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
        "unsubscribed": len(unsubscribed), "tracked_sent": 30, "tracked_delivered": 27,
        "rates": {
            "delivery": rate(27, 30), "open": rate(len(first_open), 27),
            "click": rate(len(clickers), 27),
            "click_to_open": rate(len(clickers), len(first_open)),
            "unsubscribe": rate(len(unsubscribed), 27),
        },
        "first_activity": iso(min(activity)), "last_activity": iso(max(activity)),
        # HEAD requests are in the raw log only: they never make a Clicked.
        "bots": {"proxy_opens": 0, "machine_opens": 0, "bot_opens": 1, "bot_clicks": 12},
        "hard_bounced_by_category": {"invalid": 2, "spam_block": 0}, "complaints": 0,
        "consent": {"granted": 0, "denied": 0, "unknown": len(people)},
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
