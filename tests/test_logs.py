"""Logs: one JSON line per event, never a client's address or the raw bytes it sent."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.serverproc import HOST, ServerProcess, clean_env, free_port

pytestmark = pytest.mark.process
KEY = "logs-test-signing-key-of-32-characters"
CLIENT = "127.0.0.2"  # the client's own loopback address, to search the log for

# Malformed requests aiohttp refuses before tracker sees them: each must be a 400 and one
# log line. The markers are bytes the client sent that must not reach the log.
MALFORMED = {
    "a 70 KB header": b"GET /o/x.gif HTTP/1.1\r\nHost: t\r\nX-Big: "
    + b"MARKERBIG" * 7800
    + b"\r\n\r\n",
    "Content-Length and Transfer-Encoding": b"POST /api/v1/events HTTP/1.1\r\nHost: t\r\n"
    b"X-Note: MARKERBOTH\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "a control character in a header": b"GET /o/x.gif HTTP/1.1\r\nHost: t\r\n"
    b"Cookie: MARKERCTL\x01\r\n\r\n",
    "a NUL in the path": b"GET /MARKERNUL\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
}


def send(port: int, request: bytes) -> bytes:
    """Send ``request`` from CLIENT on a new connection; the answer's first bytes."""
    with socket.create_connection((HOST, port), timeout=10, source_address=(CLIENT, 0)) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_malformed_requests_log_one_line_without_address_or_bytes(tmp_path: Path) -> None:
    env = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), TRACKER_SECRET_KEYS=KEY,
                    TRACKER_API_KEYS=KEY, TRACKER_LOG_FORMAT="json")  # fmt: skip
    server = ServerProcess(tmp_path, env, free_port()).start()
    try:
        server.wait_healthy()
        for what, request in MALFORMED.items():
            answer = send(server.port, request)
            assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request"), (what, answer)
        assert send(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )
    finally:
        server.stop()
    text = server.log_text()
    assert CLIENT not in text
    assert "MARKER" not in text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    refused = [r for r in records if r["event"] == "bad request"]
    assert len(refused) == len(MALFORMED), records
    assert {r["status"] for r in refused} == {400}
    assert all(r["error"] and r["level"] == "info" for r in refused), refused
    reasons = {r.get("reason") for r in refused}
    assert "Got more than 8190 bytes when reading" in reasons
    assert "Transfer-Encoding can't be present with Content-Length" in reasons
