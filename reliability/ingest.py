"""Row 10: malformed ingest bodies and auth probes on the sending system's API.

Every 4xx must be a JSON error (``{"error", "message"}``), nothing a 5xx, and valid
events posted again and again (ids from a small pool) must each be stored once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from reliability import rawhttp
from reliability.figures import Figure
from reliability.harness import API_KEY, database, start
from reliability.rawhttp import Reply, Request

JSON = ("Content-Type", "application/json")
KEY = ("Authorization", f"Bearer {API_KEY}")
PROBES = [
    (), (("Authorization", "Bearer"),), (("Authorization", "Bearer wrong-key"),),
    (("Authorization", f"Basic {API_KEY}"),), (("Authorization", f"Bearer {API_KEY}x"),),
    (("Authorization", f"Bearer {API_KEY[:-1]}"),), (("Authorization", "Bearer " + "k" * 6000),),
    (("Authorization", f"bearer  {API_KEY}  "),), (("Authorization", "Bearer \xe9\xff"),),
    (("Authorization", f"Token {API_KEY}"),), (("X-Api-Key", API_KEY),),
]  # fmt: skip


def _item(rng: random.Random) -> object:
    kind = rng.random()
    good = {"id": f"dup-{rng.randrange(500)}", "type": "sent", "delivery": "d-ing",
            "recipient": f"r{rng.randrange(500)}"}  # fmt: skip
    if kind < 0.3:
        return good
    if kind < 0.6:
        key = rng.choice(["id", "type", "delivery", "recipient", "at", "category", "reason"])
        value = rng.choice([None, 1, -1, 1e308, [], {}, "", "x" * 5000, "\ud800", True,
                            "2026-13-45T99:00:00Z", "hard_bounced"])  # fmt: skip
        return {**good, key: value}
    return rng.choice([None, 1, "x", [], [good], {"id": None}, 1e400, -0.0])


def body(rng: random.Random) -> bytes:
    """One malformed (or sometimes valid but repeated) body."""
    kind = rng.randrange(10)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 300))
    if kind == 1:
        text = json.dumps([_item(rng) for _ in range(rng.randint(1, 20))])
        return text[: rng.randrange(len(text))].encode()
    if kind == 2:
        depth = rng.choice([10, 1000, 100_000])
        return b"[" * depth + b"]" * depth
    if kind == 3:
        return rng.choice([b"", b"null", b"{}", b"[]", b"NaN", b"[NaN]", b"1e999999", b'"x"',
                           b'{"events": 1}', b'{"events": []}', b"\xef\xbb\xbf[]",
                           b'[{"id": "\xff"}]'])  # fmt: skip
    items = [_item(rng) for _ in range(rng.randint(1, 30))]
    return json.dumps(items, allow_nan=True).encode("utf-8", "surrogatepass")


def requests(count: int, rng: random.Random) -> Iterator[Request]:
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2:
            headers = (*rng.choice(PROBES), JSON)
            yield Request("POST", "/api/v1/events", headers, body(rng))
        elif roll < 0.25:
            method = rng.choice(["PUT", "DELETE", "PATCH", "GET"])
            path = rng.choice(["/api/v1/events", "/api/v1/mailable", "/api/v1/nope", "/api/v1"])
            yield Request(method, path + "?after=x&limit=-1", (KEY,), b"")
        elif roll < 0.3:
            yield Request("POST", "/api/v1/mailable", (KEY, JSON), body(rng))
        else:
            yield Request("POST", "/api/v1/events", (KEY, JSON), body(rng))


def ingest(work: Path, count: int, seed: int) -> Figure:
    began = time.monotonic()
    server = start(work, "ingest")
    rng = random.Random(seed)
    statuses: Counter[int] = Counter()
    problems: Counter[str] = Counter()

    def seen(_: int, request: Request, reply: Reply | None) -> None:
        if reply is None:
            problems["no answer"] += 1
            return
        statuses[reply.status] += 1
        if reply.status >= 500:
            problems["5xx"] += 1
        elif reply.status >= 400:
            try:
                error = json.loads(reply.body)["error"]
                ok = (reply.header("Content-Type") or "").startswith("application/json")
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok or not error:
                problems[f"{reply.status} not JSON ({request.method})"] += 1

    asyncio.run(rawhttp.run(server.port, requests(count, rng), seen))
    server.stop()
    with database(work / "data" / "tracker.db") as conn:
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT event_id FROM events WHERE event_id IS NOT NULL"
            " GROUP BY event_id HAVING count(*) > 1)"
        ).fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    return Figure(
        "malformed ingest bodies, auth probes",
        f"{count:,} requests ({shown}); {stored} events stored, {dupes} duplicated ids;"
        f" problems: {dict(problems) or 'none'}",
        "0 5xx; every 4xx a JSON error; 0 duplicate rows",
        not problems and dupes == 0,
        time.monotonic() - began,
    )
