"""Row 14: after a load from 127.0.0.2, no full client address in the database, WAL or logs.

The server runs with the default ``anonymise_ip=prefix`` and logs at debug level (every
hit logged); the clients bind to 127.0.0.2 (not the server's 127.0.0.1), and some send an
``X-Forwarded-For`` from an untrusted peer. Every file in the data directory (database,
WAL, shared memory) and the server's log are searched for both addresses.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import PERSON, TOKENS, session, start
from reliability.load import MixedLoad
from tracker.tokens import Message

CLIENT = "127.0.0.2"
FORWARDED = "198.51.100.23"


async def _load(base: str, seconds: float) -> int:
    mixed = MixedLoad(base, "privacy", local_addr=CLIENT)
    clients = asyncio.create_task(mixed.run())
    headers = {**PERSON, "X-Forwarded-For": FORWARDED}
    async with session(4, local_addr=CLIENT, headers=headers) as client:
        for n in range(200):
            token = TOKENS.open_token(Message("privacy", f"xff-{n}", "c", "e"))
            async with client.get(f"{base}/o/{token}.gif") as resp:
                await resp.read()
    await asyncio.sleep(seconds)
    mixed.stop.set()
    load = await clients
    return len(load.acked) + 200


def privacy(work: Path, seconds: float) -> Figure:
    began = time.monotonic()
    server = start(work, "privacy", TRACKER_LOG_LEVEL="debug")
    data = work / "data"
    sent = asyncio.run(_load(server.base_url, seconds))
    # Searched while the server still runs (the WAL holds the latest pages) and after.
    found: dict[str, int] = {}
    searched: set[str] = set()

    def search() -> None:
        for path in [*data.iterdir(), server.log_path]:
            if path.is_file() and "key" not in path.name:
                searched.add(path.name)
                blob = path.read_bytes()
                for address in (CLIENT, FORWARDED):
                    hits = blob.count(address.encode())
                    if hits:
                        where = f"{path.name}:{address}"
                        found[where] = found.get(where, 0) + hits

    search()
    server.stop()
    search()
    files = ", ".join(sorted(searched))
    return Figure(
        "client addresses after a load (anonymise_ip=prefix)",
        f"{sent:,} hits from {CLIENT} (200 with X-Forwarded-For {FORWARDED}); searched {files}"
        f" (during and after): {sum(found.values())} full addresses"
        + (f" {found}" if found else ""),
        "0 full addresses",
        not found,
        time.monotonic() - began,
    )
