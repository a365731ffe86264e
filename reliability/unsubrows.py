"""Rows 7 and 8: GET/HEAD never unsubscribe; RFC 8058 one-click POSTs do, exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp

from reliability import rawhttp
from reliability.figures import Figure
from reliability.harness import TOKENS, database, session, start
from reliability.rawhttp import Request
from reliability.tokenrows import UA
from tracker.tokens import Message


def scanners(work: Path, count: int) -> Figure:
    """Row 7: ``count`` GET and HEAD requests on valid unsubscribe links."""
    began = time.monotonic()
    server = start(work, "scanners")
    statuses: Counter[int | None] = Counter()

    def gen() -> list[Request]:
        out = []
        for n in range(count):
            token = TOKENS.unsubscribe_token(Message("d-scan", f"s{n}", "c", "e"))
            out.append(Request("HEAD" if n % 2 else "GET", f"/u/{token}", UA))
        return out

    asyncio.run(rawhttp.run(server.port, gen(), lambda _, __, r: statuses.update([r and r.status])))
    server.stop()
    with database(work / "data" / "tracker.db") as conn:
        unsubscribed = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'unsubscribed'"
        ).fetchone()[0]
    return Figure(
        "GET/HEAD on unsubscribe links",
        f"{count:,} requests, answers {dict(statuses)}, {unsubscribed} unsubscribes",
        "0 unsubscribes",
        unsubscribed == 0 and set(statuses) == {200},
        time.monotonic() - began,
    )


async def _one_click(base: str, people: int, repeats: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    async with session(16) as client:  # no cookie jar: a mailbox provider sends none

        async def person(n: int) -> None:
            url = f"{base}/u/{TOKENS.unsubscribe_token(Message('d-oc', f'p{n}', 'c', 'e'))}"
            for i in range(repeats):
                if (n + i) % 2:
                    form = aiohttp.MultipartWriter("form-data")
                    part = form.append("One-Click")
                    part.set_content_disposition("form-data", name="List-Unsubscribe")
                    body: object = form
                else:
                    body = {"List-Unsubscribe": "One-Click"}
                async with client.post(url, data=body, allow_redirects=False) as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        await asyncio.gather(*(person(n) for n in range(people)))
    return statuses


def one_click(work: Path, people: int = 500, repeats: int = 4) -> Figure:
    """Row 8: urlencoded and multipart one-click POSTs, repeated: one state change each."""
    began = time.monotonic()
    server = start(work, "oneclick")
    statuses = asyncio.run(_one_click(server.base_url, people, repeats))
    server.stop()
    with database(work / "data" / "tracker.db") as conn:
        per_person = Counter(
            r for (r,) in conn.execute(
                "SELECT recipient FROM events WHERE type = 'unsubscribed' AND delivery = 'd-oc'"
            )
        )  # fmt: skip
    once = sum(1 for n in range(people) if per_person.get(f"p{n}") == 1)
    total = people * repeats
    ok = statuses.get(200, 0)
    redirects = sum(v for k, v in statuses.items() if 300 <= k < 400)
    return Figure(
        "RFC 8058 one-click POST",
        f"{total:,} POSTs ({people} people × {repeats}, urlencoded and multipart, no cookies):"
        f" {100 * ok / total:.1f} % 200, {redirects} redirects; exactly one Unsubscribed"
        f" for {once}/{people}",
        "100 % 200, 0 redirects, exactly one state change",
        ok == total and redirects == 0 and once == people and len(per_person) == people,
        time.monotonic() - began,
    )
