"""Row 3: a rolling restart of ``tracker serve --workers 2`` under the mixed load.

Every ``every`` seconds one worker (the older) gets SIGTERM; it drains and exits, the
supervisor starts its replacement, and the other worker serves meanwhile on the shared
port (SO_REUSEPORT). Every request must be answered: refused, reset or wrong is a failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import ServerProcess, integrity, start
from reliability.load import MixedLoad, check


async def _roll(server: ServerProcess, seconds: float, every: float) -> tuple[MixedLoad, int]:
    mixed = MixedLoad(server.base_url, "roll", concurrency=32, keep_going=True)
    clients = asyncio.create_task(mixed.run())
    restarts = 0
    began = time.monotonic()
    while time.monotonic() - began + every <= seconds:
        await asyncio.sleep(every)
        workers = server.children()
        if len(workers) < 2:  # the last replacement is still starting
            continue
        os.kill(min(workers), signal.SIGTERM)  # pids grow: the oldest worker goes
        restarts += 1
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
    mixed.stop.set()
    await clients
    return mixed, restarts


def rolling_restart(work: Path, seconds: float, every: float = 5.0) -> Figure:
    """Restart a worker every ``every`` s for ``seconds`` under load: 0 failed requests."""
    began = time.monotonic()
    server = start(work, "workers", args=("--workers", "2"))
    deadline = time.monotonic() + 15
    while len(server.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    mixed, restarts = asyncio.run(_roll(server, seconds, every))
    server.signal(signal.SIGTERM)
    code = server.wait(timeout=20)
    load = mixed.load
    result = check(work / "data" / "tracker.db", load)
    failed = len(load.refused) + len(load.failed) + len(load.bad)
    figure = (
        f"{restarts} restarts in {seconds:g} s, {len(load.started)} requests, "
        f"{failed} failed ({len(load.refused)} refused, {len(load.failed)} reset, "
        f"{len(load.bad)} wrong), {len(result.lost)} lost; exit {code}; "
        f"integrity {integrity(work / 'data' / 'tracker.db')}"
    )
    return Figure(
        "rolling restart, --workers 2",
        figure,
        "0 failed requests",
        failed == 0 and not result.lost and code == 0 and restarts > 0,
        time.monotonic() - began,
    )
