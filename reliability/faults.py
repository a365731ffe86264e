"""Row 12: the store fails 1 % of its write transactions (TRACKER_FAULT_RATE=0.01).

Injected at random as ``disk I/O error`` or ``database is locked``, before or inside the
transaction. Pixels must still be the GIF, valid clicks still redirect, nothing answers
5xx, every failed attempt is in /metrics (``tracker_store_errors``, checked against the
server's log lines), and nothing acknowledged is lost: an unsubscribe or event is
acknowledged only once stored, and an open or click whose write failed for good is
counted as ``store_error`` in ``tracker_hits``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import metric, start
from reliability.load import MixedLoad, check


async def _load(base: str, seconds: float) -> MixedLoad:
    mixed = MixedLoad(base, "faults", concurrency=32)
    clients = asyncio.create_task(mixed.run())
    await asyncio.sleep(seconds)
    mixed.stop.set()
    await clients
    return mixed


def faults(work: Path, seconds: float, rate: float = 0.01) -> Figure:
    began = time.monotonic()
    server = start(work, "faults", TRACKER_FAULT_RATE=str(rate))
    mixed = asyncio.run(_load(server.base_url, seconds))
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    server.stop()
    load = mixed.load
    counted = metric(text, "tracker_store_errors_total")
    logged = sum(1 for r in server.log_records() if r.get("event") == "commit attempt failed")
    gave_up = metric(text, "tracker_hits_total", outcome="store_error")
    result = check(work / "data" / "tracker.db", load)
    lost_acked = [r for r in result.lost if load.started[r] in ("unsub", "event")]
    lost_hits = len(result.lost) - len(lost_acked)
    bad = {load.started[r]: s for r, s in load.bad.items()}
    fivexx = sum(1 for s in load.bad.values() if s >= 500)
    figure = (
        f"{len(load.started):,} requests in {seconds:g} s; {counted:g} failed commit attempts"
        f" counted ({logged} logged), {gave_up:g} hits given up; wrong answers {bad or 0},"
        f" 5xx {fivexx}; lost: {len(lost_acked)} acknowledged, {lost_hits} hits"
        f" (≤ given up)"
    )
    passed = (
        not load.bad
        and not load.failed
        and counted == logged > 0
        and not lost_acked
        and lost_hits <= gave_up
    )
    return Figure(
        "store faults at 1 % (I/O error, locked)",
        figure,
        "pixel 200, clicks redirect, 0 5xx, every failure in /metrics, 0 acknowledged lost",
        passed,
        time.monotonic() - began,
    )
