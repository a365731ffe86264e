"""Mixed load with a unique id per request, and the set checker.

Request ``i`` of a load is one of: an open (GET the pixel), a click (GET the redirect),
an RFC 8058 one-click unsubscribe (POST), or a Sent event posted through the sending
system's API. Each carries its own id (the recipient, or the event id), so after the
fact the checker compares the ids the clients saw acknowledged with the rows stored.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from reliability.harness import AUTH, TOKENS, database, session
from tracker.routes.tracking import PIXEL
from tracker.tokens import Click, Message

# Out of every ten requests: opens, clicks, unsubscribes, event posts.
MIX = ("open",) * 4 + ("click",) * 4 + ("unsub", "event")
CAMPAIGN, EMAIL = "c-rel", "e-rel"
REFUSED = (aiohttp.ClientConnectorError,)


def target(rid: str) -> str:
    return f"https://shop.example.com/p/{rid}?utm_source=email"


@dataclass
class Load:
    """What the clients of one load saw, by request id."""

    delivery: str
    started: dict[str, str] = field(default_factory=dict)  # id -> kind
    acked: dict[str, float] = field(default_factory=dict)  # id -> when answered
    refused: dict[str, float] = field(default_factory=dict)  # never accepted
    failed: dict[str, tuple[float, str]] = field(default_factory=dict)  # reset, timeout
    bad: dict[str, int] = field(default_factory=dict)  # a wrong answer (5xx …)
    statuses: Counter[int] = field(default_factory=Counter)

    def count(self, kind: str) -> int:
        return sum(1 for i in self.acked if self.started[i] == kind)


class MixedLoad:
    """Clients sending the mix to ``base_url`` until stopped or nothing listens."""

    def __init__(
        self,
        base_url: str,
        delivery: str,
        concurrency: int = 32,
        local_addr: str | None = None,
        rate: float | None = None,
        keep_going: bool = False,
    ) -> None:
        self.base_url = base_url
        self.load = Load(delivery)
        self.concurrency = concurrency
        self.local_addr = local_addr
        self.rate = rate  # requests per second in all, or as fast as answered
        self.keep_going = keep_going  # on a refused connection: retry (True) or stop
        self.stop = asyncio.Event()
        self.answered = asyncio.Event()  # set at the first request acknowledged
        self._numbers = itertools.count()
        self._began = 0.0

    async def run(self) -> Load:
        """Send until ``stop`` is set (or, without keep_going, the server is gone)."""
        self._began = time.monotonic()
        async with session(self.concurrency, self.local_addr) as client:
            await asyncio.gather(*(self._client(client) for _ in range(self.concurrency)))
        return self.load

    async def _pace(self, n: int) -> None:
        if self.rate:
            delay = self._began + n / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _client(self, client: aiohttp.ClientSession) -> None:
        load = self.load
        while not self.stop.is_set():
            n = next(self._numbers)
            await self._pace(n)
            kind = self.kind(n)
            rid = f"{load.delivery}-{n}"
            load.started[rid] = kind
            try:
                status, ok = await self._send(client, kind, rid)
            except REFUSED:
                load.refused[rid] = time.monotonic()
                if not self.keep_going:
                    return
                await asyncio.sleep(0.01)
                continue
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                load.failed[rid] = (time.monotonic(), type(exc).__name__)
                continue
            load.statuses[status] += 1
            if ok:
                load.acked[rid] = time.monotonic()
                self.answered.set()
            else:
                load.bad[rid] = status

    def kind(self, n: int) -> str:
        """What request ``n`` is: one of ``MIX``."""
        return MIX[n % len(MIX)]

    async def _send(self, client: aiohttp.ClientSession, kind: str, rid: str) -> tuple[int, bool]:
        message = Message(self.load.delivery, rid, CAMPAIGN, EMAIL)
        base = self.base_url
        if kind == "open":
            async with client.get(f"{base}/o/{TOKENS.open_token(message)}.gif") as resp:
                return resp.status, resp.status == 200 and await resp.read() == PIXEL
        if kind == "click":
            url = f"{base}/c/{TOKENS.click_token(Click(message, 0, target(rid)))}"
            async with client.get(url, allow_redirects=False) as resp:
                await resp.read()
                return resp.status, resp.status == 302 and resp.headers["Location"] == target(rid)
        if kind == "unsub":
            url = f"{base}/u/{TOKENS.unsubscribe_token(message)}"
            form = {"List-Unsubscribe": "One-Click"}
            async with client.post(url, data=form, allow_redirects=False) as resp:
                await resp.read()
                return resp.status, resp.status == 200
        item = {"id": rid, "type": "sent", "delivery": self.load.delivery, "recipient": rid,
                "campaign": CAMPAIGN, "email": EMAIL}  # fmt: skip
        async with client.post(f"{base}/api/v1/events", json=[item], headers=AUTH) as resp:
            if resp.status != 200:
                await resp.read()
                return resp.status, False
            body = await resp.json()
            return resp.status, body["results"][0]["status"] == "stored"


EXPECTED = {"open": "opened", "click": "clicked", "unsub": "unsubscribed", "event": "sent"}


@dataclass
class Check:
    """The set checker's answer for one load."""

    lost: list[str]
    phantom: list[str]
    stored: int


def check(db: Path, load: Load) -> Check:
    """Compare acknowledged ids with the rows stored for the load's delivery."""
    with database(db) as conn:
        events = {
            (recipient, kind)
            for recipient, kind in conn.execute(
                "SELECT recipient, type FROM events WHERE delivery = ?", (load.delivery,)
            )
        }
        hits = {
            r
            for (r,) in conn.execute(
                "SELECT recipient FROM hits WHERE delivery = ?", (load.delivery,)
            )  # fmt: skip
        }
    lost = []
    for rid in load.acked:
        kind = load.started[rid]
        if (rid, EXPECTED[kind]) not in events or (kind != "event" and rid not in hits):
            lost.append(rid)
    phantom = sorted({r for r, _ in events} - set(load.started))
    return Check(lost, phantom, len(events))
