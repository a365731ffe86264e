"""What ``synchronous=FULL`` costs against the default ``NORMAL``, on this disk.

Stores hits through the real SQLiteStore: one client writing alone (each hit its own
commit) and 256 concurrent clients (group commit). Rounds alternate between the two
settings; medians and the FULL/NORMAL ratio are printed.

    python -m bench.durability [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tracker.events import EventType, Hit, Route, iso_now
from tracker.store.sqlite.store import SQLiteStore
from tracker.tokens import Message


def hit(i: int) -> Hit:
    message = Message("bench-delivery", f"r-{i}", "bench-campaign", "bench-email")
    return Hit(
        Route.CLICK,
        "GET",
        "redirect",
        iso_now(),
        message,
        "127.0.0.0",
        "bench",
        EventType.CLICKED,
        0,
        "https://example.com/",
    )


async def one_round(synchronous: str, sequential: int, concurrent: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", synchronous)
        await store.open()
        started = time.perf_counter()
        for i in range(sequential):
            await store.record(hit(i))
        alone = sequential / (time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(store.record(hit(i)) for i in range(concurrent)))
        grouped = concurrent / (time.perf_counter() - started)
        await store.close()
    return alone, grouped


async def main(rounds: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {"NORMAL": [], "FULL": []}
    for _ in range(rounds):
        for level in results:
            results[level].append(await one_round(level, 300, 20_000))
    print(f"{'synchronous':<12}{'alone hits/s':>14}{'grouped hits/s':>16}")
    medians = {}
    for level, rows in results.items():
        medians[level] = (
            statistics.median(r[0] for r in rows),
            statistics.median(r[1] for r in rows),
        )
        print(f"{level:<12}{medians[level][0]:>14,.0f}{medians[level][1]:>16,.0f}")
    print(
        f"{'FULL/NORMAL':<12}{medians['FULL'][0] / medians['NORMAL'][0]:>14.2f}"
        f"{medians['FULL'][1] / medians['NORMAL'][1]:>16.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
