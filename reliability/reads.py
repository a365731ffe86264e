"""Row 13: reads every second while 2,000 hits/s are written; the WAL stays bounded.

The mixed load runs at a fixed rate; once a second a reader asks for the delivery's
stats, URLs and logs, a recipient's tracking, the activity log and /healthz. No read may
fail or say ``database is locked``; the WAL file's size is sampled every 0.2 s.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import AUTH, session, start
from reliability.load import MixedLoad

WAL_BOUND_MB = 64.0
READS = (
    "/api/v1/deliveries/reads/stats", "/api/v1/deliveries/reads/urls",
    "/api/v1/deliveries/reads/logs?limit=100", "/api/v1/recipients/reads-1/tracking",
    "/api/v1/events?limit=100", "/healthz",
)  # fmt: skip


def _size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


async def _run(base: str, wal: Path, seconds: float, rate: float) -> dict[str, float]:
    mixed = MixedLoad(base, "reads", concurrency=64, rate=rate)
    clients = asyncio.create_task(mixed.run())
    out = {"reads": 0, "failed": 0, "locked": 0, "wal_mb": 0.0, "slowest": 0.0}
    began = time.monotonic()
    async with session(4, headers=AUTH) as reader:
        # The delivery's reports answer 404 until the load's first hit names it.
        while time.monotonic() - began < seconds:
            async with reader.get(base + READS[0]) as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.05)
        while time.monotonic() - began < seconds:
            tick = time.monotonic()
            for path in READS:
                started = time.monotonic()
                async with reader.get(base + path) as resp:
                    text = await resp.text()
                out["reads"] += 1
                out["failed"] += resp.status != 200
                out["locked"] += "database is locked" in text
                out["slowest"] = max(out["slowest"], time.monotonic() - started)
            while time.monotonic() - tick < 1:
                out["wal_mb"] = max(out["wal_mb"], _size_mb(wal))
                await asyncio.sleep(0.2)
    mixed.stop.set()
    load = await clients
    out["hits_per_s"] = len(load.acked) / (time.monotonic() - began)
    out["load_errors"] = len(load.failed) + len(load.bad) + len(load.refused)
    return out


def reads(work: Path, seconds: float, rate: float = 2000) -> Figure:
    began = time.monotonic()
    server = start(work, "reads")
    wal = work / "data" / "tracker.db-wal"
    out = asyncio.run(_run(server.base_url, wal, seconds, rate))
    server.stop()
    logged = server.log_text().count("database is locked")
    figure = (
        f"{seconds:g} s at {out['hits_per_s']:,.0f} answered/s (aimed {rate:,.0f}),"
        f" {out['reads']:,.0f} reads, {out['failed']:.0f} failed, slowest"
        f" {out['slowest'] * 1000:.0f} ms; 'database is locked': {out['locked']:.0f} to"
        f" clients, {logged} in the log; WAL max {out['wal_mb']:.1f} MB;"
        f" load errors {out['load_errors']:.0f}"
    )
    passed = (
        out["failed"] == out["locked"] == out["load_errors"] == 0
        and logged == 0
        and out["wal_mb"] <= WAL_BOUND_MB
        and out["hits_per_s"] >= 0.9 * rate
    )
    return Figure(
        "reads every second under 2,000 hits/s",
        figure,
        f"0 'database is locked'; WAL ≤ {WAL_BOUND_MB:g} MB; ≥ 90 % of the rate served",
        passed,
        time.monotonic() - began,
    )
