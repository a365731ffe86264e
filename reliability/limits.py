"""Row 11: oversized bodies, request lines, header lines and header counts.

Each is sent over a raw socket, many times; the answers must be 400/413/414/431 (never a
5xx) and the server's resident memory may grow by less than 50 MB over the lot, measured
from after one warm-up of each. The growth over the second half of the rounds is shown
too: it tends to zero when nothing leaks (the allocator keeps what it once needed).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import API_KEY, HOST, TOKENS, rss_kib, start
from tracker.tokens import Message

MIB = 1024 * 1024


def _cases() -> dict[str, bytes]:
    unsub = TOKENS.unsubscribe_token(Message("d-big", "r", "c", "e"))
    auth = f"Authorization: Bearer {API_KEY}\r\n"

    def post(path: str, size: int, extra: str = "") -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\n{extra}Content-Length: {size}\r\n\r\n"
        return head.encode() + b"[" + b" " * (size - 1)

    many = "".join(f"X-H{i}: v\r\n" for i in range(2000))
    return {
        "events body 2 MiB": post("/api/v1/events", 2 * MIB, auth),
        "unsubscribe body 1 MiB": post(f"/u/{unsub}", MIB),
        "chunked events 2 MiB": (
            f"POST /api/v1/events HTTP/1.1\r\nHost: t\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + (b"10000\r\n" + b" " * 0x10000 + b"\r\n") * 32
        + b"0\r\n\r\n",
        "request line 64 KiB": b"GET /o/" + b"a" * 65536 + b".gif HTTP/1.1\r\nHost: t\r\n\r\n",
        "header line 64 KiB": b"GET /healthz HTTP/1.1\r\nX-Big: " + b"v" * 65536 + b"\r\n\r\n",
        "2,000 headers": f"GET /healthz HTTP/1.1\r\nHost: t\r\n{many}\r\n".encode(),
    }


def _send(port: int, data: bytes) -> int | None:
    """The status of the answer to ``data`` (None when the server closed without one)."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before the whole body is sent
        try:
            head = sock.recv(64)
        except OSError:
            return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def limits(work: Path, rounds: int) -> Figure:
    began = time.monotonic()
    server = start(work, "limits")
    cases = _cases()
    for data in cases.values():  # warm up: the first of each allocates what it keeps
        _send(server.port, data)
    before = rss_kib(server.pid)
    answers: dict[str, Counter[int | None]] = {name: Counter() for name in cases}
    halfway = before
    for done in range(rounds):
        if done == rounds // 2:
            halfway = rss_kib(server.pid)
        for name, data in cases.items():
            answers[name][_send(server.port, data)] += 1
    after = rss_kib(server.pid)
    growth = (after - before) / 1024
    late = (after - halfway) / 1024  # tends to 0 when nothing leaks
    server.stop()
    allowed = {400, 413, 414, 431}
    seen = {s for c in answers.values() for s in c}
    shown = "; ".join(f"{n}: {'/'.join(str(s) for s in sorted(c, key=str))}"
                      for n, c in answers.items())  # fmt: skip
    return Figure(
        "oversized body, request line, headers",
        f"{rounds * len(cases):,} requests ({shown}); RSS growth {growth:.1f} MB"
        f" ({late:.1f} MB of it over the second half)",
        "413/400 (414/431 too); 0 5xx; memory growth < 50 MB",
        seen <= allowed and growth < 50,
        time.monotonic() - began,
    )
