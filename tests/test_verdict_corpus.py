"""The labelled corpus through the real server: precision and recall of the verdicts."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import timedelta
from typing import Any

from tests.conftest import Rows
from tests.helpers import START, Clock
from tests.verdict_corpus import GMAIL_PROXY, YAHOO_PROXY, build, delivered_at
from tracker.app import create_app
from tracker.config import Settings
from tracker.events import iso
from tracker.tokens import Click, Message, Tokens

GOAL = 0.97


def precision_recall(pairs: list[tuple[str, str]], label: str) -> tuple[float, float, int]:
    """(precision, recall, support) of ``label`` over (truth, verdict) pairs."""
    said = sum(1 for _, v in pairs if v == label)
    true = sum(1 for t, _ in pairs if t == label)
    right = sum(1 for t, v in pairs if t == v == label)
    return right / said, right / true, true


async def test_verdicts_on_the_labelled_corpus(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    trusting = replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    client = await aiohttp_client(create_app(trusting, clock=clock))
    people, hits = build()

    sends = []
    for n, who in enumerate(people):
        at = iso(START + timedelta(seconds=delivered_at(n)))
        sends += [
            {"id": f"s-{who}", "type": "sent", "delivery": "launch", "recipient": who, "at": at},
            {"id": f"d-{who}", "type": "delivered", "delivery": "launch", "recipient": who,
             "at": at},
        ]  # fmt: skip
    resp = await client.post("/api/v1/events", json=sends, headers=auth)
    assert resp.status == 200

    for h in hits:
        clock.now = START + timedelta(seconds=h.seconds)
        message = Message("launch", h.recipient, "autumn", "launch-email")
        if h.route == "open":
            path = f"/o/{tokens.open_token(message)}.gif"
        else:
            assert h.link is not None
            path = f"/c/{tokens.click_token(Click(message, h.link, 'https://shop.example/'))}"
        headers = {"User-Agent": h.user_agent, "X-Forwarded-For": h.ip}
        resp = await client.request(h.method, path, headers=headers, allow_redirects=False)
        assert resp.status in (200, 302)

    stored = rows("SELECT recipient, verdict, reasons FROM hits ORDER BY id")
    assert [r["recipient"] for r in stored] == [h.recipient for h in hits]
    pairs = [(h.label, r["verdict"]) for h, r in zip(hits, stored, strict=True)]
    print(f"\nverdicts on the labelled corpus ({len(hits)} hits, {len(people)} recipients):")
    print(f"{'verdict':<14}{'precision':>10}{'recall':>8}{'hits':>6}")
    scores = {}
    for label in ("bot", "machine_open", "human"):
        scores[label] = precision_recall(pairs, label)
        p, r, n = scores[label]
        print(f"{label:<14}{p:>10.3f}{r:>8.3f}{n:>6}")
    wrong = [(h.recipient, h.route, h.label, v, r["reasons"])
             for h, (_, v), r in zip(hits, pairs, stored, strict=True) if h.label != v]  # fmt: skip
    print("misjudged:", *wrong, sep="\n  ")
    for label in ("bot", "machine_open"):
        precision, recall, _ = scores[label]
        assert precision >= GOAL, f"{label} precision {precision:.3f}"
        assert recall >= GOAL, f"{label} recall {recall:.3f}"

    report = await client.get("/api/v1/deliveries/launch/stats", headers=auth)
    stats = await report.json()
    human_clicks = sum(1 for h, (_, v) in zip(hits, pairs, strict=True)
                       if h.route == "click" and v == "human")  # fmt: skip
    assert stats["clicks"] == human_clicks
    # Gmail's and Yahoo's readers are people: their opens through the proxies count.
    readers = {h.recipient for h in hits if h.recipient.startswith("gmail-")}
    through_proxy = {h.recipient for h, (_, v) in zip(hits, pairs, strict=True)
                     if h.user_agent in (GMAIL_PROXY, YAHOO_PROXY) and v == "human"}  # fmt: skip
    assert through_proxy == readers and len(readers) == 40
    assert stats["bots"]["proxy_opens"] == len(readers)
    human_openers = {h.recipient for h, (_, v) in zip(hits, pairs, strict=True)
                     if h.route == "open" and v == "human"}  # fmt: skip
    assert stats["opened"] == len(human_openers)
