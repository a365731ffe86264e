"""Report speed at scale: a store with millions of raw hits, every report endpoint and
every dashboard page timed.

    python -m bench.reports [--hits 10000000] [--tail 0.001]

Fills a SQLite file straight away (indexes built after the load): one big delivery and
four small ones, a million recipients, 30 % opens and 70 % clicks, one hit in ten a
machine's, Sent and Delivered for every recipient. The tracking workflow consolidates
all but the last ``--tail`` share of the events (the live tail every report adds: the
events since the last run, an hour's at most with the default schedule), then a real
server answers each report endpoint and, logged in, each dashboard page over HTTP (the big
delivery's email registered through the decorate API, for hot clicks); the medians of 5
calls are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.http import API_KEY, Server
from tracker.events import iso
from tracker.store.sqlite.schema import migrate
from tracker.store.sqlite.store import SQLiteStore, connect
from tracker.store.units import WorkflowRun

KEY = {"Authorization": f"Bearer {API_KEY}"}
BIG = "d-big"
AGENTS = [("Apple Mail", "desktop"), ("Outlook", "desktop"), ("Chrome Mobile", "mobile"),
          ("Mobile Safari", "mobile"), ("Chrome", "desktop")]  # fmt: skip
START = datetime(2026, 9, 1, tzinfo=UTC)


def load(db: Path, hits: int, seed: int = 1) -> int:
    """Fill ``db``; returns the number of events."""
    rnd = random.Random(seed)
    conn = connect(db, "OFF")
    migrate(conn)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    people = min(1_000_000, max(1000, hits // 10))
    conn.execute("BEGIN")
    sends = []
    for p in range(people):
        delivery = BIG if p % 10 < 8 else f"d-{p % 4}"
        at = iso(START + timedelta(seconds=p // 100))
        sends.append(("sent", at, delivery, f"r{p}", "c", "e", f"r{p}", f"s{p}"))
        sends.append(("delivered", at, delivery, f"r{p}", "c", "e", f"r{p}", f"v{p}"))
    conn.executemany(
        "INSERT INTO events (type, at, delivery, recipient, campaign, email, message, event_id)"
        " VALUES (?,?,?,?,?,?,?,?)",
        sends,
    )
    opened: set[tuple[str, int]] = set()
    batch_hits, batch_events = [], []
    for i in range(1, hits + 1):
        p = rnd.randrange(people)
        delivery = BIG if p % 10 < 8 else f"d-{p % 4}"
        at = iso(START + timedelta(seconds=3600 + i * (60 * 86400 / hits)))
        verdict = "bot" if rnd.random() < 0.1 else "human"
        client, device = AGENTS[p % len(AGENTS)]
        is_open = rnd.random() < 0.3
        route = "open" if is_open else "click"
        link = None if is_open else rnd.randrange(12)
        url = None if is_open else f"https://shop.example/{link}"
        outcome = "pixel" if is_open else "redirect"
        reasons = "" if verdict == "human" else "user_agent"
        batch_hits.append((i, at, route, "GET", outcome, delivery, f"r{p}", "c", "e", link,
                           url, "203.0.113.0", "Mozilla/5.0", verdict, reasons, client,
                           device))  # fmt: skip
        kind = "opened" if is_open else "clicked"
        dedupe = None
        if is_open:
            key = (verdict, p)
            if key in opened:
                kind = ""
            opened.add(key)
            dedupe = f"opened{'-machine' if verdict != 'human' else ''}\x1fe\x1fr{p}\x1fc"
        if kind:
            batch_events.append((kind, at, delivery, f"r{p}", "c", "e", link, url, i, dedupe,
                                 verdict))  # fmt: skip
        if len(batch_hits) >= 100_000:
            _flush(conn, batch_hits, batch_events)
    _flush(conn, batch_hits, batch_events)
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    conn.close()
    return events


def _flush(conn: sqlite3.Connection, hits: list[tuple[object, ...]],
           events: list[tuple[object, ...]]) -> None:  # fmt: skip
    conn.executemany(
        "INSERT INTO hits (id, at, route, method, outcome, delivery, recipient, campaign, email,"
        " link, url, ip, user_agent, verdict, reasons, client, device)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        hits,
    )
    conn.executemany(
        "INSERT INTO events (type, at, delivery, recipient, campaign, email, link, url, hit_id,"
        " dedupe, verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        events,
    )
    hits.clear()
    events.clear()


async def consolidate(db: Path, events: int, tail: float) -> float:
    """Run the workflow over all but the tail; seconds it took."""
    store = SQLiteStore(db, busy_timeout_ms=60_000)
    await store.open()
    conn = sqlite3.connect(db)
    keep = int(events * tail)
    cutoff = conn.execute(
        "SELECT at FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)
    ).fetchone()[0]
    conn.close()
    started = time.perf_counter()
    now = iso(datetime.now(UTC))
    unit = WorkflowRun(now, now, "bench", cutoff)
    while True:
        unit = await store.workflow_run(unit)
        if not unit.more:
            break
    took = time.perf_counter() - started
    await store.close()
    return took


PATHS = [
    f"/api/v1/deliveries/{BIG}/stats",
    f"/api/v1/deliveries/{BIG}/stats?bots=include",
    f"/api/v1/deliveries/{BIG}/urls",
    f"/api/v1/deliveries/{BIG}/hot-clicks",
    f"/api/v1/deliveries/{BIG}/timeline",
    f"/api/v1/deliveries/{BIG}/clients",
    f"/api/v1/deliveries/{BIG}/logs?limit=100",
    f"/api/v1/deliveries/{BIG}/logs?limit=100&verdict=bot&after=5000000",
    f"/api/v1/deliveries/{BIG}/logs?limit=100&recipient=r1234",
    "/api/v1/recipients/r1234/tracking",
    "/api/v1/deliveries/d-1/stats",
]
PAGES = [
    "/ui/",
    "/ui/?sort=open_rate&order=desc&bots=include",
    "/ui/?from=2026-09-01&to=2026-09-30&q=big",
    "/ui/campaigns/c",
    f"/ui/deliveries/{BIG}",
    f"/ui/deliveries/{BIG}?bots=include",
    f"/ui/deliveries/{BIG}?tab=urls",
    f"/ui/deliveries/{BIG}?tab=hot",
    f"/ui/deliveries/{BIG}/email",
    f"/ui/deliveries/{BIG}?tab=logs",
    f"/ui/deliveries/{BIG}?tab=logs&verdict=bot&after=5000000",
    f"/ui/deliveries/{BIG}?tab=logs&recipient=r1234",
    f"/ui/deliveries/{BIG}/logs.csv?recipient=r1234",
    "/ui/recipients?q=r1234",
    "/ui/recipients/r1234",
    "/ui/recipients/r1234?bots=include",
    "/ui/workflow",
]
TEMPLATE = Path(__file__).resolve().parents[1] / "tests/data/email-templates/cerberus-hybrid.html"


async def median_ms(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200, (url, resp.status, await resp.text())
            await resp.read()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


async def timings(base: str) -> tuple[dict[str, float], dict[str, float]]:
    """The report endpoints' medians, and the dashboard pages' (logged in)."""
    out, pages = {}, {}
    # The dashboard's cookie is set by 127.0.0.1: a jar that keeps an IP address's cookies.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for path in PATHS:
            out[path] = await median_ms(session, base + path, KEY)
        email = {"delivery": BIG, "campaign": "c", "email": "e", "recipient": "r1",
                 "html": TEMPLATE.read_text(encoding="utf-8")}  # fmt: skip
        async with session.post(f"{base}/api/v1/decorate", json=email, headers=KEY) as resp:
            assert resp.status == 200, await resp.text()
        async with session.post(f"{base}/ui/login", data={"key": API_KEY},
                                allow_redirects=False) as resp:  # fmt: skip
            assert resp.status == 303, await resp.text()
        for path in PAGES:
            pages[path] = await median_ms(session, base + path, {})
    return out, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=10_000_000)
    parser.add_argument("--tail", type=float, default=0.001)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "data-tracker" / "tracker.db"
        db.parent.mkdir()
        started = time.perf_counter()
        events = load(db, args.hits)
        print(f"loaded {args.hits:,} hits and {events:,} events in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
        took = asyncio.run(consolidate(db, events, args.tail))
        print(f"workflow consolidated {1 - args.tail:.0%} of the events in {took:.1f} s",
              file=sys.stderr)  # fmt: skip
        # The server's own run at start would consolidate the tail while it is timed.
        os.environ["TRACKER_WORKFLOW_INTERVAL"] = "0"
        server = Server("tracker", Path(tmp))
        server.start()
        try:
            found, pages = asyncio.run(timings(f"http://127.0.0.1:{server.port}"))
        finally:
            server.stop()
    tail = int(events * args.tail)
    print(f"\nreports with {args.hits:,} raw hits ({tail:,} events in the live tail), median of 5:")
    for path, ms in found.items():
        print(f"{ms:>9.1f} ms  {path}")
    print("\ndashboard pages (logged in), median of 5:")
    for path, ms in pages.items():
        print(f"{ms:>9.1f} ms  {path}")


if __name__ == "__main__":
    main()
