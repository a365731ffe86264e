"""SIGTERM drains open keep-alive connections instead of dropping the next request on them."""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.serverproc import (
    HALF,
    HOST,
    ServerProcess,
    clean_env,
    closed_by_server,
    free_port,
    open_sockets,
)
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.process
KEY = "serving-test-key-at-least-32-characters"
LONG_KEY = "serving-test-key-of-32-characters-or-more"


def exchange(sock: socket.socket, path: str) -> bytes:
    """Send one GET on ``sock`` and read its whole answer (headers and the GIF)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla/5.0\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 43:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_request_on_an_open_connection_after_sigterm_is_answered(tmp_path: Path) -> None:
    env = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), TRACKER_SECRET_KEYS=KEY,
                    TRACKER_API_KEYS=KEY, TRACKER_LOG_FORMAT="json")  # fmt: skip
    server = ServerProcess(tmp_path, env, free_port()).start()
    try:
        server.wait_healthy()
        tokens = Tokens([KEY])
        path = f"/o/{tokens.open_token(Message('d', 'r1', 'c', 'e'))}.gif"
        with socket.create_connection((HOST, server.port), timeout=5) as sock:
            first = exchange(sock, path)
            assert first.startswith(b"HTTP/1.1 200"), first
            server.signal(signal.SIGTERM)
            # The listener closes at once; this connection is open and its client sends on.
            for _ in range(100):
                try:
                    socket.create_connection((HOST, server.port), timeout=5).close()
                except OSError:
                    break  # the listener is closed; this connection stays open
                time.sleep(0.005)
            second = exchange(sock, f"/o/{tokens.open_token(Message('d', 'r2', 'c', 'e'))}.gif")
        head = second.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 200"), second
        assert b"\r\nconnection: close" in head
        assert server.wait(timeout=10) == 0
    finally:
        server.stop()


# Settings of the deadline tests: heads must arrive within 1 s, idle connections last 2 s.
DEADLINES = {"TRACKER_HEADER_TIMEOUT": "1", "TRACKER_KEEPALIVE_TIMEOUT": "2"}


def deadline_server(tmp_path: Path, **extra: str) -> ServerProcess:
    env = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), TRACKER_SECRET_KEYS=LONG_KEY,
                    TRACKER_API_KEYS=LONG_KEY, TRACKER_LOG_FORMAT="json", **extra)  # fmt: skip
    return ServerProcess(tmp_path, env, free_port())


def pixel(port: int, path: str, timeout: float = 5) -> bytes:
    """A pixel GET on a new connection; its answer, or b"" when none came."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            return exchange(sock, path)
    except OSError:
        return b""


def test_held_sockets_are_dropped_and_the_server_answers_with_256_descriptors(
    tmp_path: Path,
) -> None:
    """300 connections, half of them idle and half stopped in the middle of a request's
    head, against a server limited to 256 file descriptors: it drops them all and answers."""
    server = deadline_server(tmp_path, **DEADLINES).start()
    held: list[socket.socket] = []
    try:
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (256, 256))
        server.wait_healthy()
        path = f"/o/{Tokens([LONG_KEY]).open_token(Message('d', 'r', 'c', 'e'))}.gif"
        assert pixel(server.port, path).startswith(b"HTTP/1.1 200")
        held = open_sockets(server.port, 300, within=10)
        for n, sock in enumerate(held):
            if n % 2:
                with contextlib.suppress(OSError):
                    sock.send(HALF)
        # Every held socket is closed by the server well before aiohttp's default of an
        # hour (1 s for a head, 2 s idle here; generous for a loaded machine).
        end = time.monotonic() + 60
        open_ = set(held)
        while open_ and time.monotonic() < end:
            open_ = {s for s in open_ if not closed_by_server(s)}
            time.sleep(0.2)
        assert not open_, f"{len(open_)} of 300 held sockets still open after 60 s"
        # The client still holds its 300 sockets; the server answers others.
        assert pixel(server.port, path).startswith(b"HTTP/1.1 200")
        assert server.proc is not None and server.proc.poll() is None
    finally:
        for sock in held:
            sock.close()
        server.stop()
    assert "Traceback" not in server.log_text()


def test_a_trickled_head_is_cut_but_an_idle_keep_alive_connection_is_not(
    tmp_path: Path,
) -> None:
    """The head deadline counts from a request's first byte: a head trickled a byte every
    0.2 s is cut, while a connection idle for longer than it stays open until keep-alive."""
    server = deadline_server(tmp_path, TRACKER_HEADER_TIMEOUT="1",
                             TRACKER_KEEPALIVE_TIMEOUT="60").start()  # fmt: skip
    try:
        server.wait_healthy()
        tokens = Tokens([LONG_KEY])
        path = f"/o/{tokens.open_token(Message('d', 'r', 'c', 'e'))}.gif"
        with socket.create_connection((HOST, server.port), timeout=5) as idle:
            assert exchange(idle, path).startswith(b"HTTP/1.1 200")
            with socket.create_connection((HOST, server.port), timeout=5) as slow:
                slow.setblocking(False)
                started = time.monotonic()
                cut = None
                for byte in HALF + b"a" * 300:  # 60 s of trickle at most
                    try:
                        slow.send(bytes([byte]))
                    except OSError:
                        cut = time.monotonic() - started
                        break
                    if closed_by_server(slow):
                        cut = time.monotonic() - started
                        break
                    time.sleep(0.2)
            assert cut is not None and cut < 30, "a trickled head was kept"
            time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))  # idle past 1 s
            assert exchange(idle, path).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
