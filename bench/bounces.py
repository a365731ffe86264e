"""Bounce intake figures: POST /api/v1/bounces with 10,000 real-shaped bounce messages.

    python -m bench.bounces [--messages 10000] [--in-flight 8] [--rounds 1]

The messages are the labelled corpus's (tests/data/bounces: DSNs, ARF reports and the
non-standard bounces of many MTAs and providers), each copy with its failed address
made a distinct person's, so no two are the same bounce. Before the clock starts, one
Sent event with that address is posted per person, so each bounce is matched (by its
address) and stored, as after a real send. The server (SQLite file) is pinned to core
0, this client to core 1 (bench/http.py's ``pin``); prints messages/s, how many results
were stored, and the server's CPU seconds (messages per CPU second: what one core
would take if the server had it alone; shared machines make messages/s drift) with the
seconds its threads waited, runnable, for a CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp

from bench.http import API_KEY, Server

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "bounces"
KEY = {"Authorization": f"Bearer {API_KEY}"}
RFC822 = {**KEY, "Content-Type": "message/rfc822"}


def corpus() -> list[tuple[bytes, list[str]]]:
    """Each corpus message and its labelled failed addresses."""
    addresses: dict[str, list[str]] = defaultdict(list)
    with (CORPUS / "labels.csv").open(newline="", encoding="utf-8") as labels:
        for row in csv.DictReader(labels):
            if row["address"]:
                addresses[row["file"]].append(row["address"])
    return [
        ((CORPUS / "messages" / name).read_bytes(), found)
        for name, found in sorted(addresses.items())
    ]


def messages(count: int, run: int) -> tuple[list[bytes], list[tuple[str, str]]]:
    """``count`` bounce messages, and the (person, address) each one names."""
    source = corpus()
    made: list[bytes] = []
    people: list[tuple[str, str]] = []
    for n in range(count):
        raw, addresses = source[n % len(source)]
        for k, address in enumerate(addresses):
            person = f"r{run}-p{n}-{k}"
            new = f"{person}@bench.example"
            raw = re.sub(re.escape(address.encode()), new.encode(), raw, flags=re.IGNORECASE)
            people.append((person, new))
        made.append(raw)
    return made, people


async def send_events(base: str, people: list[tuple[str, str]]) -> None:
    """One Sent event per person, with the address the bounce will name."""
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(people), 1000):
            batch = [
                {"id": f"sent-{person}", "type": "sent", "delivery": "d-bench",
                 "recipient": person, "campaign": "c", "email": "e", "address": address}
                for person, address in people[start : start + 1000]
            ]  # fmt: skip
            async with session.post(base + "/api/v1/events", json=batch, headers=KEY) as r:
                assert r.status == 200, await r.text()


async def post_all(base: str, bodies: list[bytes], in_flight: int) -> tuple[float, int]:
    """Messages per second, and the results stored."""
    queue = list(reversed(bodies))
    stored = 0
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            nonlocal stored
            while queue:
                body = queue.pop()
                async with session.post(base + "/api/v1/bounces", data=body, headers=RFC822) as r:
                    assert r.status == 200, await r.text()
                    answer = await r.json()
                    stored += sum(1 for result in answer["results"] if result["stored"])

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        return len(bodies) / (time.perf_counter() - started), stored


def cpu_seconds(pid: int) -> tuple[float, float]:
    """Seconds the process's threads have run on a CPU, and waited runnable for one
    (another process had the core), so far (/proc/PID/task/*/schedstat)."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # a thread that ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


def pin_client() -> None:
    """This process on core 1 (the server has core 0), where there are two cores."""
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not (CORPUS / "labels.csv").is_file():
        sys.exit(f"bench.bounces: the corpus is missing: {CORPUS}")
    pin_client()
    rates: list[float] = []
    per_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-bounces-") as tmp:
        for run in range(args.rounds):
            bodies, people = messages(args.messages, run)
            server = Server("tracker", Path(tmp) / f"round-{run}")
            server.workdir.mkdir()
            server.start()
            try:
                base = f"http://127.0.0.1:{server.port}"
                asyncio.run(send_events(base, people))
                assert server.proc is not None
                ran, waited = cpu_seconds(server.proc.pid)
                rate, stored = asyncio.run(post_all(base, bodies, args.in_flight))
                after = cpu_seconds(server.proc.pid)
                cpu, waited = after[0] - ran, after[1] - waited
            finally:
                server.stop()
            rates.append(rate)
            per_cpu.append(len(bodies) / cpu)
            print(
                f"round {run + 1}: {len(bodies):,} messages ({len(people):,} failed recipients)"
                f" in {len(bodies) / rate:.1f} s: {rate:,.0f} messages/s, {stored:,} stored;"
                f" server CPU {cpu:.1f} s ({len(bodies) / cpu:,.0f} messages per CPU second),"
                f" {waited:.1f} s runnable but waiting for a CPU (threads summed)",
                flush=True,
            )
    print(
        f"POST /api/v1/bounces: {statistics.median(rates):,.0f} messages/s (median),"
        f" {statistics.median(per_cpu):,.0f} per server CPU second"
    )


if __name__ == "__main__":
    main()
