"""Row 16: idle and half-sent sockets held open while a client keeps fetching pixels.

The server is limited to 256 file descriptors (RLIMIT_NOFILE, set on the running
process) and given the row's head deadline and keep-alive. 300 sockets connect at once:
half send nothing, half stop in the middle of a request's head. They stay open on the
client's side. Meanwhile four clients fetch pixels, each on a new connection (as mail
clients do). Figures: pixels answered, failed (and until when failures happened), how
long the server took to drop each held socket, and a last pixel after the run.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from reliability.figures import Figure
from reliability.harness import TOKENS, session, start
from tests.serverproc import HALF, closed_by_server, open_sockets
from tracker.routes.tracking import PIXEL
from tracker.tokens import Message

DESCRIPTORS = 256
HELD = 300


@dataclass
class Seen:
    """What the pixel clients and the watcher of the held sockets saw."""

    answered: int = 0
    failed: int = 0
    server_errors: int = 0
    last_failure: float = 0.0  # seconds after the sockets were opened
    dropped: dict[int, float] = field(default_factory=dict)  # socket index -> seconds


def _hold(port: int) -> list[socket.socket]:
    """HELD connections opened at once (those connected within 3 s); the odd ones send
    half a request head."""
    socks = open_sockets(port, HELD, 3)
    for n, sock in enumerate(socks):
        if n % 2:
            try:
                sock.send(HALF)
            except OSError:
                pass  # already closed by the server: counted as dropped
    return socks


async def _watch(socks: list[socket.socket], began: float, seen: Seen, stop: asyncio.Event) -> None:
    while not stop.is_set() and len(seen.dropped) < len(socks):
        for n, sock in enumerate(socks):
            if n not in seen.dropped and closed_by_server(sock):
                seen.dropped[n] = time.monotonic() - began
        await asyncio.sleep(0.05)


async def _fetch(base: str, began: float, seen: Seen, stop: asyncio.Event, worker: int) -> None:
    async with session(1, timeout=2, force_close=True) as client:
        n = 0
        while not stop.is_set():
            n += 1
            token = TOKENS.open_token(Message("held", f"p{worker}-{n}", "c", "e"))
            try:
                async with client.get(f"{base}/o/{token}.gif") as resp:
                    body = await resp.read()
                    ok = resp.status == 200 and body == PIXEL
                    seen.server_errors += resp.status >= 500
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                seen.answered += 1
            else:
                seen.failed += 1
                seen.last_failure = time.monotonic() - began
                await asyncio.sleep(0.05)


async def _run(base: str, socks: list[socket.socket], began: float, seconds: float) -> Seen:
    seen, stop = Seen(), asyncio.Event()
    tasks = [asyncio.create_task(_watch(socks, began, seen, stop))]
    tasks += [asyncio.create_task(_fetch(base, began, seen, stop, w)) for w in range(4)]
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
    stop.set()
    await asyncio.gather(*tasks)
    return seen


def _pixel_after(base: str) -> int | None:
    async def one() -> int | None:
        async with session(1, timeout=10, force_close=True) as client:
            token = TOKENS.open_token(Message("held", "after", "c", "e"))
            try:
                async with client.get(f"{base}/o/{token}.gif") as resp:
                    return resp.status
            except (TimeoutError, aiohttp.ClientError):
                return None

    return asyncio.run(one())


def held_sockets(
    work: Path, header_timeout: float, keepalive_timeout: float, seconds: float
) -> Figure:
    began = time.monotonic()
    server = start(
        work,
        "held",
        TRACKER_HEADER_TIMEOUT=str(header_timeout),
        TRACKER_KEEPALIVE_TIMEOUT=str(keepalive_timeout),
    )
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))
    opened = time.monotonic()
    socks = _hold(server.port)
    try:
        seen = asyncio.run(_run(server.base_url, socks, opened, seconds))
        after = _pixel_after(server.base_url)
    finally:
        for sock in socks:
            sock.close()
    alive = server.proc is not None and server.proc.poll() is None
    server.stop()
    bound = keepalive_timeout + header_timeout + 5  # a deadline, once accepted, and slack
    held = len(socks)
    kept = held - len(seen.dropped)
    idle = [t for n, t in seen.dropped.items() if n % 2 == 0]
    half = [t for n, t in seen.dropped.items() if n % 2]
    slowest = max(seen.dropped.values(), default=0.0)
    figure = (
        f"{held} sockets ({(held + 1) // 2} idle, {held // 2} mid-head) under RLIMIT_NOFILE"
        f" {DESCRIPTORS}, head {header_timeout:g} s, keep-alive {keepalive_timeout:g} s:"
        f" dropped {len(seen.dropped)} (mid-head by {max(half, default=0):.1f} s, idle by"
        f" {max(idle, default=0):.1f} s), kept {kept}; pixels over {seconds:g} s:"
        f" {seen.answered:,} answered, {seen.failed} failed (the last at"
        f" {seen.last_failure:.1f} s), 5xx {seen.server_errors};"
        f" pixel after: {after}"
    )
    passed = (
        held > DESCRIPTORS  # more than the server has descriptors for, as the row means
        and kept == 0
        and slowest <= bound
        and seen.server_errors == 0
        and seen.answered > 0
        and seen.last_failure <= slowest + 1
        and after == 200
        and alive
    )
    return Figure(
        "idle and half-sent sockets held, pixels fetched",
        figure,
        f"more held than {DESCRIPTORS} descriptors; all dropped ≤ {bound:g} s (keep-alive"
        " + head + 5); no failure 1 s after the last"
        " drop; 0 5xx; a pixel after",
        passed,
        time.monotonic() - began,
    )
