"""Rows 1 and 2: ``kill -9`` and SIGTERM at a random moment under the mixed load."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import ServerProcess, healthz, integrity, spawn, start
from reliability.load import Load, MixedLoad, check


async def load_then(
    server: ServerProcess, delivery: str, blow: int, after: float
) -> tuple[Load, float]:
    """Run the mixed load for ``after`` s, send ``blow``, let the clients run out.

    Returns what the clients saw and the seconds from the signal to the process's exit.
    """
    mixed = MixedLoad(server.base_url, delivery)
    clients = asyncio.create_task(mixed.run())
    await asyncio.sleep(after)
    sent = time.monotonic()
    server.signal(blow)
    exited = float("inf")
    while time.monotonic() - sent < 20:
        if server.proc is not None and server.proc.poll() is not None:
            exited = time.monotonic() - sent
            break
        await asyncio.sleep(0.005)
    # Clients stop at the first refused connection; a stop signal ends the stragglers.
    done, _ = await asyncio.wait([clients], timeout=15)
    if not done:
        mixed.stop.set()
        await clients
    return mixed.load, exited


def wait_serving(port: int, since: float, timeout: float = 20) -> float:
    """Seconds from ``since`` until /healthz answers 200 on ``port``."""
    while time.monotonic() - since < timeout:
        if healthz(port, timeout=0.5) == 200:
            return time.monotonic() - since
        time.sleep(0.01)
    return float("inf")


def kill_rounds(work: Path, rounds: int, rng: random.Random) -> Figure:
    """Kill the server with SIGKILL mid-load, restart it, check every acknowledged id."""
    began = time.monotonic()
    server = start(work, "kill9")
    db = work / "data" / "tracker.db"
    acked = lost = phantom = 0
    checks: set[str] = set()
    worst = 0.0
    for r in range(rounds):
        load, _ = asyncio.run(load_then(server, f"k{r}", signal.SIGKILL, rng.uniform(0.3, 1.5)))
        killed = time.monotonic()
        server.wait(timeout=10)
        server = spawn(server)
        worst = max(worst, wait_serving(server.port, killed))
        result = check(db, load)
        acked += len(load.acked)
        lost += len(result.lost)
        phantom += len(result.phantom)
        checks.add(integrity(db))
    server.stop()
    figure = (
        f"{rounds} rounds, {acked} acknowledged, {lost} lost, {phantom} phantom; "
        f"integrity {'/'.join(sorted(checks))}; serving again after ≤ {worst:.2f} s"
    )
    passed = lost == 0 and phantom == 0 and checks == {"ok"} and worst <= 2.0
    return Figure(
        "kill -9 under mixed load",
        figure,
        "0 lost; integrity ok every round; serving ≤ 2 s",
        passed,
        time.monotonic() - began,
    )


def term_rounds(work: Path, rounds: int, rng: random.Random, bound: float = 5.0) -> Figure:
    """SIGTERM mid-load: accepted requests answered, exit 0 within the shutdown bound."""
    began = time.monotonic()
    db = work / "data" / "tracker.db"
    acked = lost = resets = fivexx = refused = 0
    codes: set[int] = set()
    worst = 0.0
    for r in range(rounds):
        server = start(work, "sigterm", TRACKER_SHUTDOWN_TIMEOUT=str(bound))
        load, drain = asyncio.run(load_then(server, f"t{r}", signal.SIGTERM, rng.uniform(0.5, 1.5)))
        try:
            codes.add(server.wait(timeout=bound + 10))
        except subprocess.TimeoutExpired:
            codes.add(-1)
            server.stop()
        worst = max(worst, drain)
        result = check(db, load)
        acked += len(load.acked)
        lost += len(result.lost)
        resets += len(load.failed)
        fivexx += sum(1 for s in load.bad.values() if s >= 500)
        refused += len(load.refused)
    figure = (
        f"{rounds} rounds, {acked} acknowledged, {resets} resets, {fivexx} 5xx, "
        f"{lost} lost, {refused} refused after close; exit codes {sorted(codes)}; "
        f"drain ≤ {worst:.2f} s"
    )
    passed = lost == resets == fivexx == 0 and codes == {0} and worst < bound
    return Figure(
        "SIGTERM under mixed load",
        figure,
        f"0 resets/5xx; 0 lost; exit 0 in < {bound:g} s (TRACKER_SHUTDOWN_TIMEOUT)",
        passed,
        time.monotonic() - began,
    )
