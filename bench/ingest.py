"""Sending-system figures: events ingest over HTTP and a mailable check of a whole list.

    python -m bench.ingest [--batches 50] [--rounds 3] [--population 1000000]
                           [--before PYTHON]

1. POST /api/v1/events in batches of 1,000 over loopback to a real server (SQLite file,
   pinned to core 0; this client on core 1), four batches in flight; prints events/s
   and the server's CPU time per event (its threads' run time, which other load on the
   machine disturbs less than the wall clock), each round and their medians. The store
   grows by ``--batches`` thousand events a round. ``--before PYTHON`` runs another
   checkout's server (its ``.venv/bin/python``) in the same interleaved rounds.
2. Loads a store with events for ``--population`` recipients (one in 50 suppressed),
   then times POST /api/v1/mailable for 10,000 of them (median of 5); ``0`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.bounces import cpu_seconds, pin_client
from bench.http import API_KEY, Server
from tracker.store.sqlite.schema import migrate
from tracker.store.sqlite.store import connect

KEY = {"Authorization": f"Bearer {API_KEY}"}


def batch(round_no: int, n: int, size: int = 1000) -> list[dict[str, str]]:
    kinds = ("sent", "delivered", "sent", "soft_bounced")
    return [
        {
            "id": f"r{round_no}-b{n}-{i}",
            "type": kinds[i % 4],
            "delivery": f"d{n % 10}",
            "recipient": f"p{n * size + i}",
            "campaign": "c",
            "email": "e",
        }
        for i in range(size)
    ]


async def ingest(base: str, round_no: int, batches: int, in_flight: int = 4) -> float:
    bodies = [batch(round_no, n) for n in range(batches)]
    async with aiohttp.ClientSession() as session:
        queue = list(range(batches))

        async def sender() -> None:
            while queue:
                n = queue.pop()
                async with session.post(base + "/api/v1/events", json=bodies[n], headers=KEY) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        return batches * 1000 / (time.perf_counter() - started)


def populate(db: Path, population: int) -> None:
    """Events for ``population`` recipients written straight into the file (fast setup)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(db, "NORMAL")
    migrate(conn)
    conn.execute("BEGIN")
    rows = []
    for i in range(population):
        kind = "hard_bounced" if i % 50 == 0 else "sent"
        rows.append(
            (
                kind,
                "2026-11-01T00:00:00.000000Z",
                "d0",
                f"p{i}",
                "c",
                "e",
                f"p{i}",
                f"seed-{i}",
                "invalid" if kind == "hard_bounced" else None,
            )
        )
    conn.executemany(
        "INSERT INTO events (type, at, delivery, recipient, campaign, email, message, event_id,"
        " category) VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


async def mailable(base: str, population: int) -> float:
    people = [f"p{i}" for i in range(0, population, max(1, population // 10_000))][:10_000]
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(base + "/api/v1/mailable", json={"recipients": people},
                                headers=KEY) as r:  # fmt: skip
            body = await r.json()
        elapsed = time.perf_counter() - started
    assert len(body["results"]) == len(people)
    return elapsed * 1000


def ingest_rounds(tmp: Path, rounds: int, batches: int, before: str) -> None:
    """Ingest rounds against tracker (and ``before``), interleaved; prints each and the
    medians: events/s and the server's CPU µs per event."""
    servers = [Server("tracker", tmp)] + ([Server("before", tmp, python=before)] if before else [])
    rates: dict[str, list[float]] = {s.name: [] for s in servers}
    cpu: dict[str, list[float]] = {s.name: [] for s in servers}
    try:
        for server in servers:
            server.start()
        for r in range(rounds):
            for server in servers if r % 2 == 0 else servers[::-1]:
                assert server.proc is not None
                ran = cpu_seconds(server.proc.pid)[0]
                rate = asyncio.run(ingest(f"http://127.0.0.1:{server.port}", r, batches))
                used = (cpu_seconds(server.proc.pid)[0] - ran) / (batches * 1000) * 1e6
                rates[server.name].append(rate)
                cpu[server.name].append(used)
                print(f"round {r + 1} {server.name}: {rate:,.0f} events/s, "
                      f"server CPU {used:.1f} µs/event", flush=True)  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        name = server.name
        print(
            f"ingest ({name}), batches of 1,000 over HTTP: median "
            f"{statistics.median(rates[name]):,.0f} events/s, server CPU "
            f"{statistics.median(cpu[name]):.1f} µs/event (rounds: "
            f"{', '.join(f'{r:,.0f}' for r in rates[name])})"
        )
    if before:
        ratios = [a / b for a, b in zip(rates["tracker"], rates["before"], strict=True)]
        print(f"tracker/before events/s per round: {', '.join(f'{x:.2f}' for x in ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--before", default="", help="another checkout's python")
    args = parser.parse_args()
    pin_client()
    with tempfile.TemporaryDirectory() as tmp:
        ingest_rounds(Path(tmp), args.rounds, args.batches, args.before)
        if args.population <= 0:
            return
        populate(Path(tmp) / "data-tracker-m" / "tracker.db", args.population)
        server = Server("tracker-m", Path(tmp))
        server.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            times = [asyncio.run(mailable(base, args.population)) for _ in range(5)]
        finally:
            server.stop()
        print(
            f"mailable, 10,000 recipients of {args.population:,}: median "
            f"{statistics.median(times):.0f} ms (runs: {', '.join(f'{t:.0f}' for t in times)})"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
