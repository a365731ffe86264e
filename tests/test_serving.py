"""SIGTERM drains open keep-alive connections instead of dropping the next request on them."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.serverproc import HOST, ServerProcess, clean_env, free_port
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.process
KEY = "serving-test-key-at-least-32-characters"


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
