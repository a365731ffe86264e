"""A small HTTP/1.1 client over raw sockets: requests go out byte for byte as built.

Several keep-alive connections work through one iterator of requests; each answer is
handed to a callback with the request's index. Faster than aiohttp's client and it sends
odd paths exactly as given (no normalising, no quoting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Request:
    method: str
    target: str  # the request-target, sent as is
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1", "replace") + self.body


class ConnectionLost(Exception):
    """The server closed the connection before a whole answer came."""


async def read_reply(reader: asyncio.StreamReader, head_only: bool) -> Reply:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ConnectionLost(str(exc)) from exc
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [tuple(line.split(": ", 1)) for line in lines[1:] if ": " in line]
    reply = Reply(status, [(k, v) for k, v in headers], b"")
    if head_only or status in (204, 304):
        return reply
    length = reply.header("Content-Length")
    try:
        if length is not None:
            reply.body = await reader.readexactly(int(length))
        elif (reply.header("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            reply.body = b"".join(c[:-2] for c in chunks)
        else:
            reply.body = await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ConnectionLost(str(exc)) from exc
    return reply


async def run(
    port: int,
    requests: Iterable[Request],
    on_reply: Callable[[int, Request, Reply | None], None],
    concurrency: int = 16,
    host: str = "127.0.0.1",
) -> None:
    """Send every request (over ``concurrency`` connections); ``on_reply`` sees each answer.

    ``on_reply`` gets None for a request whose connection was lost before an answer.
    """
    work: Iterator[tuple[int, Request]] = iter(enumerate(requests))

    async def connection() -> None:
        reader = writer = None
        for index, request in work:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            assert reader is not None
            try:
                writer.write(request.encode())
                reply: Reply | None = await read_reply(reader, request.method == "HEAD")
            except (ConnectionLost, ConnectionError):
                reply = None
            on_reply(index, request, reply)
            if reply is None or (reply.header("Connection") or "").lower() == "close":
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
