"""Rows 1 and 2: ``kill -9`` (under the mixed, hot-token and scanner loads) and SIGTERM
(under the mixed load) at a random moment."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from reliability.clickloads import (
    ClickLoad,
    HotLoad,
    ScannerLoad,
    check_clicks,
    mixed_clicks,
    stats_problems,
    tagged_clicks,
)
from reliability.figures import Figure
from reliability.harness import (
    ServerProcess,
    free_port,
    healthz,
    integrity,
    server_env,
    spawn,
    start,
)
from reliability.load import Check, Load, MixedLoad, check


async def load_then(
    server: ServerProcess, mixed: MixedLoad, blow: int, after: float
) -> tuple[Load, float]:
    """Run ``mixed`` (the mixed load, or a click load) until its first answer and ``after``
    s more, send ``blow``, let the clients run out.

    Counting from the first answer: a restarted server's first requests wait for what it
    loads on first use (0.2 s, more on a busy machine), and a kill before it would leave
    a round with nothing acknowledged to check.
    Returns what the clients saw and the seconds from the signal to the process's exit.
    """
    clients = asyncio.create_task(mixed.run())
    answered = asyncio.create_task(mixed.answered.wait())
    await asyncio.wait([clients, answered], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    answered.cancel()
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


def wait_serving(started: dict[int, float], timeout: float = 20) -> dict[int, float]:
    """Seconds from each port's start time until its /healthz answers 200 (inf: never)."""
    took = dict.fromkeys(started, float("inf"))
    waiting = set(started)
    while waiting and time.monotonic() - min(started.values()) < timeout:
        for port in sorted(waiting):
            if healthz(port, timeout=0.5) == 200:
                took[port] = time.monotonic() - started[port]
                waiting.discard(port)
        time.sleep(0.01)
    return took


def restart_beside_fresh(
    server: ServerProcess, killed: float, fresh: Path
) -> tuple[ServerProcess, float, float]:
    """Restart ``server`` and, at the same moment, a server on an empty data directory.

    Returns the restarted server, the seconds from the kill until it served, and the
    seconds the fresh one took to serve: on a machine busy with other work both take
    longer alike, so the restart is judged against the start beside it.
    """
    fresh.mkdir(parents=True, exist_ok=True)
    beside = spawn(ServerProcess(fresh, server_env(fresh / "data"), free_port(), "fresh"))
    beside_at = time.monotonic()
    server = spawn(server)
    took = wait_serving({server.port: killed, beside.port: beside_at})
    beside.signal(signal.SIGKILL)
    beside.wait(timeout=10)
    return server, took[server.port], took[beside.port]


# A restart after kill -9 serves within this many seconds (or, on a busy machine, at
# most a second after a server started at the same moment on an empty data directory).
SERVING = 2.0

# The loads row 1 kills the server under: the mixed load, one hot click token (a pasted
# link: 64 clients on one recipient's link) and a scanner (5 recipients x 200 links).
SHAPES = {"mixed": ("k", MixedLoad), "hot": ("kh", HotLoad), "scanner": ("ks", ScannerLoad)}


@dataclass
class Tally:
    """One shape's rounds: requests acknowledged, lost and phantom."""

    rounds: int = 0
    acked: int = 0
    lost: int = 0
    phantom: int = 0

    def add(self, acked: int, result: Check) -> None:
        self.rounds += 1
        self.acked += acked
        self.lost += len(result.lost)
        self.phantom += len(result.phantom)


def kill_rounds(work: Path, rounds: int, rng: random.Random) -> Figure:
    """Kill the server with SIGKILL mid-load, restart it, check every acknowledged id and
    the delivery's stats; ``rounds`` of each shape, interleaved on one data directory."""
    began = time.monotonic()
    server = start(work, "kill9")
    db = work / "data" / "tracker.db"
    tallies = {shape: Tally() for shape in SHAPES}
    checks: set[str] = set()
    problems: list[str] = []
    worst = (0.0, 0.0)  # the slowest restart, and the fresh start beside it
    slow = 0  # restarts slower than SERVING and than the fresh start beside them + 1 s
    for r in range(rounds):
        for shape, (prefix, make) in SHAPES.items():
            mixed = make(server.base_url, f"{prefix}{r}")
            load, _ = asyncio.run(load_then(server, mixed, signal.SIGKILL, rng.uniform(0.3, 1.5)))
            killed = time.monotonic()
            server.wait(timeout=10)
            fresh = work / "fresh" / f"{prefix}{r}"
            server, took, beside = restart_beside_fresh(server, killed, fresh)
            worst = max(worst, (took, beside))
            slow += took > max(SERVING, beside + 1)
            if isinstance(mixed, ClickLoad):
                result, clicks = check_clicks(db, mixed), tagged_clicks(mixed)
            else:
                result, clicks = check(db, load), mixed_clicks(load)
            tallies[shape].add(len(load.acked), result)
            problems += stats_problems(server.base_url, load.delivery, clicks)
            checks.add(integrity(db))
    server.stop()
    shapes = "; ".join(
        f"{shape}: {t.rounds} rounds, {t.acked} acknowledged, {t.lost} lost, {t.phantom} phantom"
        for shape, t in tallies.items()
    )
    stats = f"stats wrong {len(problems)}" + (f" ({problems[0]})" if problems else "")
    figure = (
        f"{shapes}; {stats}; integrity {'/'.join(sorted(checks))}; "
        f"serving again after ≤ {worst[0]:.2f} s (a fresh start beside it {worst[1]:.2f} s)"
        + (f", {slow} restarts slower than allowed" if slow else "")
    )
    lost = sum(t.lost + t.phantom for t in tallies.values())
    passed = lost == 0 and not problems and checks == {"ok"} and slow == 0
    return Figure(
        "kill -9 under mixed, hot-token and scanner loads",
        figure,
        "0 lost, 0 phantom; stats count every acknowledged click; integrity ok every round;"
        f" serving ≤ {SERVING:g} s, or ≤ 1 s after a fresh server started beside it",
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
        mixed = MixedLoad(server.base_url, f"t{r}")
        load, drain = asyncio.run(load_then(server, mixed, signal.SIGTERM, rng.uniform(0.5, 1.5)))
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
