"""Click-only loads shaped as real traffic, each click tagged, and their checks.

``HotLoad``: every client clicks one recipient's token of one link (a pasted link).
``ScannerLoad``: a few recipients' messages of many links each, every link of one
recipient followed in turn (a security scanner). Many clicks share a recipient and a
link, so the id of each request (``Load``'s, as in the mixed load) travels in its
``User-Agent`` after a person's mail program (``… rel/<id>``): the stored hit's
``user_agent`` names the request it came from. ``check_clicks`` compares those ids with
the rows stored; ``stats_problems`` reads a delivery's stats over HTTP and compares them
with what the clients saw.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from reliability.harness import AUTH, PERSON, TOKENS, database
from reliability.load import CAMPAIGN, EMAIL, Check, Load, MixedLoad
from tracker.tokens import Click, Message

TAG = " rel/"  # between the mail program's user agent and the request's id
HOT_LINK = 3
SCANNED = (5, 200)  # recipients, links per message (as bench/http.py's scanner)


def link_target(link: int) -> str:
    return f"https://shop.example.com/p/{link}?utm_source=email"


class ClickLoad(MixedLoad):
    """Clicks only, as fast as answered; ``pick`` says whose click on which link."""

    def __init__(self, base_url: str, delivery: str, concurrency: int = 64) -> None:
        super().__init__(base_url, delivery, concurrency)
        self.sent: dict[str, tuple[str, int]] = {}  # id -> (recipient, link)
        self._tokens: dict[tuple[str, int], str] = {}

    def kind(self, n: int) -> str:
        return "click"

    def pick(self, n: int) -> tuple[str, int]:
        raise NotImplementedError

    def token(self, recipient: str, link: int) -> str:
        key = (recipient, link)
        if key not in self._tokens:
            message = Message(self.load.delivery, recipient, CAMPAIGN, EMAIL)
            self._tokens[key] = TOKENS.click_token(Click(message, link, link_target(link)))
        return self._tokens[key]

    async def _send(self, client: aiohttp.ClientSession, kind: str, rid: str) -> tuple[int, bool]:
        recipient, link = self.sent[rid] = self.pick(int(rid.rpartition("-")[2]))
        url = f"{self.base_url}/c/{self.token(recipient, link)}"
        agent = {"User-Agent": f"{PERSON['User-Agent']}{TAG}{rid}"}
        async with client.get(url, headers=agent, allow_redirects=False) as resp:
            await resp.read()
            return resp.status, resp.status == 302 and resp.headers["Location"] == link_target(link)


class HotLoad(ClickLoad):
    """Every client clicks the same recipient's token of one link."""

    def pick(self, n: int) -> tuple[str, int]:
        return f"{self.load.delivery}-hot", HOT_LINK


class ScannerLoad(ClickLoad):
    """Recipient after recipient, every link of each one's message in turn."""

    def pick(self, n: int) -> tuple[str, int]:
        recipients, links = SCANNED
        return f"{self.load.delivery}-s{n // links % recipients}", n % links


def check_clicks(db: Path, load: ClickLoad) -> Check:
    """Each acknowledged click must be one hit (the recipient and link it was sent for)
    with its Clicked event; a hit no request was sent for, a request stored twice or a
    Clicked event without its hit is phantom."""
    delivery = load.load.delivery
    with database(db) as conn:
        hits = conn.execute(
            "SELECT id, recipient, link, user_agent FROM hits WHERE delivery = ?", (delivery,)
        ).fetchall()
        clicked = {
            h
            for (h,) in conn.execute(
                "SELECT hit_id FROM events WHERE delivery = ? AND type = 'clicked'", (delivery,)
            )
        }
    stored: dict[str, list[tuple[str, int]]] = {}
    phantom: list[str] = []
    for hit_id, recipient, link, agent in hits:
        rid = str(agent).rpartition(TAG)[2]
        if rid not in load.load.started:
            phantom.append(f"hit {hit_id}")
        elif hit_id not in clicked:
            phantom.append(f"hit {hit_id} without its Clicked")
        else:
            stored.setdefault(rid, []).append((recipient, link))
    phantom += [rid for rid, rows in stored.items() if len(rows) > 1]
    phantom += [f"event of hit {h}" for h in sorted(clicked - {h for h, *_ in hits})]
    lost = [rid for rid in load.load.acked if stored.get(rid) != [load.sent[rid]]]
    return Check(lost, phantom, len(hits))


@dataclass
class Clicks:
    """A delivery's clicks as the clients saw them: the clicks answered and the
    recipients of those, the clicks sent and their recipients (the most that may be
    stored: a click may be committed and its answer lost in the kill)."""

    acked: int
    acked_people: int
    sent: int
    sent_people: int


def mixed_clicks(load: Load) -> Clicks:
    """The mixed load's clicks: each request's id is its recipient."""
    acked = [r for r in load.acked if load.started[r] == "click"]
    sent = [r for r, kind in load.started.items() if kind == "click"]
    return Clicks(len(acked), len(acked), len(sent), len(sent))


def tagged_clicks(load: ClickLoad) -> Clicks:
    acked = [load.sent[r] for r in load.load.acked]
    sent = list(load.sent.values())
    people = {r for r, _ in acked}
    return Clicks(len(acked), len(people), len(sent), len({r for r, _ in sent}))


def stats_problems(base_url: str, delivery: str, clicks: Clicks) -> list[str]:
    """What ``GET /api/v1/deliveries/{delivery}/stats?bots=include`` gets wrong:
    ``clicks`` and ``unique_clickers`` must lie between what was acknowledged and what
    was sent."""
    url = f"{base_url}/api/v1/deliveries/{delivery}/stats?bots=include"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=30) as r:
            stats = json.load(r)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and clicks.acked == 0:
            return []
        return [f"{delivery}: stats {exc.code}"]
    problems = []
    if not clicks.acked <= stats["clicks"] <= clicks.sent:
        problems.append(
            f"{delivery}: clicks {stats['clicks']}, acknowledged {clicks.acked}, sent {clicks.sent}"
        )
    if not clicks.acked_people <= stats["unique_clickers"] <= clicks.sent_people:
        problems.append(
            f"{delivery}: unique clickers {stats['unique_clickers']}, acknowledged"
            f" {clicks.acked_people}, sent {clicks.sent_people}"
        )
    return problems
