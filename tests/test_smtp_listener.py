"""The SMTP listener of a real ``tracker serve``: what an MTA sees over loopback."""

from __future__ import annotations

import http.client
import json
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import API_KEY, Rows
from tests.serverproc import HOST, ServerProcess, free_port
from tests.smtpserver import DOMAIN, smtp_env, smtp_tracker
from tracker.config import Settings


@pytest.fixture
def listening(settings: Settings) -> Iterator[tuple[ServerProcess, int]]:
    """A server with its SMTP listener on a loopback port: (server, SMTP port)."""
    with smtp_tracker(settings, TRACKER_SMTP_MAX_SIZE="4096") as started:
        yield started


def test_mail_for_another_domain_is_refused_with_550(
    listening: tuple[ServerProcess, int],
) -> None:
    server, port = listening
    with smtplib.SMTP(HOST, port, timeout=10) as client:
        assert client.ehlo()[0] == 250
        assert client.mail("")[0] == 250
        code, reply = client.rcpt("someone@shop.example")
        assert code == 550
        assert DOMAIN.encode() in reply
        assert client.rcpt(f"b-x@{DOMAIN.upper()}")[0] == 250  # domains ignore case
    assert "smtp message taken" not in server.log_text()


def test_a_message_over_the_size_limit_gets_552(listening: tuple[ServerProcess, int]) -> None:
    server, port = listening
    big = b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n"
    with smtplib.SMTP(HOST, port, timeout=10) as client:
        assert b"\nSIZE 4096\n" in client.ehlo()[1]
        client.mail("")
        client.rcpt(f"b-x@{DOMAIN}")
        code, _ = client.data(big * 100)
        assert code == 552
        # The session goes on: the next message is read.
        assert client.noop()[0] == 250
    assert "smtp message taken" not in server.log_text()


CORPUS = Path(__file__).parent / "data" / "bounces" / "messages"


def _post_sent(server: ServerProcess) -> None:
    body = json.dumps(
        [
            {
                "id": "sent-1",
                "type": "sent",
                "delivery": "d-1",
                "recipient": "p-1",
                "campaign": "c-1",
                "email": "e-1",
                "address": "kijitora@example.co.jp",
            }
        ]
    )
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/api/v1/events", body, headers)
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_a_bounce_is_taken_once_and_what_is_not_mail_gets_554(
    settings: Settings, rows: Rows
) -> None:
    smtp_port = free_port()
    server = ServerProcess(settings.data_dir, smtp_env(settings, smtp_port), free_port()).start()
    try:
        server.wait_healthy(timeout=20)
        _post_sent(server)
        # A real Gmail bounce (5.7.0, blocked), matched by its failed address.
        raw = (CORPUS / "lhost-gmail-03.eml").read_bytes().replace(b"\n", b"\r\n")  # as sent
        with smtplib.SMTP(HOST, smtp_port, timeout=30) as client:
            code, features = client.ehlo("mta.example")
            assert b"\nSIZE 1048576\n" in features  # the default limit, 1 MiB
            for stored in (1, 0):  # the same message twice: logged once
                assert client.mail("")[0] == 250
                assert client.rcpt(f"b-not-a-token@{DOMAIN}")[0] == 250
                code, reply = client.data(raw)
                assert (code, reply) == (250, f"2.0.0 OK: 1 result(s), {stored} stored".encode())
            client.mail("")
            client.rcpt(f"b-x@{DOMAIN}")
            code, reply = client.data(b"\x00\x01\x02\x03 not a message")
            assert (code, reply) == (554, b"5.6.0 message cannot be read: empty or binary input")
            assert client.noop()[0] == 250  # the session goes on
        found = rows("SELECT recipient, delivery, type, category FROM events WHERE type != 'sent'")
        assert found == [
            {
                "recipient": "p-1",
                "delivery": "d-1",
                "type": "hard_bounced",
                "category": "spam_block",
            }
        ]
        taken = [r for r in server.log_records() if r.get("event", "").startswith("smtp message")]
        assert [(r["event"], r.get("stored")) for r in taken] == [
            ("smtp message taken", 1), ("smtp message taken", 0), ("smtp message refused", None)
        ]  # fmt: skip
    finally:
        server.stop()


def _get(port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_stalled_smtp_clients_do_not_hold_up_http_clients(
    listening: tuple[ServerProcess, int],
) -> None:
    server, port = listening
    started = time.monotonic()
    assert _get(server.port, "/healthz", timeout=10) == 200
    baseline = time.monotonic() - started
    stalled = []
    for _ in range(20):  # each stops in the middle of its message's data
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.recv(1024)  # the greeting
        sock.sendall(f"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<b-x@{DOMAIN}>\r\nDATA\r\n".encode())
        sock.sendall(b"Subject: half a message\r\n\r\nand then noth")
        stalled.append(sock)
    try:
        started = time.monotonic()
        for _ in range(10):
            assert _get(server.port, "/healthz", timeout=10) == 200
        took = (time.monotonic() - started) / 10
        # Generous (a loaded machine): a held-up request would wait for its 10 s timeout.
        assert took < max(5.0, 20 * baseline), (took, baseline)
        with smtplib.SMTP(HOST, port, timeout=10) as client:  # nor does another MTA
            assert client.noop()[0] == 250
    finally:
        for sock in stalled:
            sock.close()


def _serve_once(settings: Settings, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tracker", "serve", "--host", HOST, "--port", str(free_port())]
    return subprocess.run(
        cmd, cwd=settings.data_dir, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_smtp_port_without_a_bounce_domain_is_one_line_exit_2(
    settings: Settings, tmp_path: Path
) -> None:
    env = smtp_env(settings, free_port())
    del env["TRACKER_BOUNCE_DOMAIN"]
    done = _serve_once(settings, env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: configuration: smtp_port:"), done.stderr
    assert "bounce_domain" in lines[-1]
    assert "Traceback" not in done.stderr


def test_an_smtp_port_in_use_is_one_line_exit_2(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve_once(settings, smtp_env(settings, port, TRACKER_SMTP_HOST=HOST))
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"Error: cannot listen for SMTP on {HOST}:{port}: Address already in use"
    assert "Traceback" not in done.stderr


def test_an_idle_smtp_client_does_not_hold_up_the_stop(
    listening: tuple[ServerProcess, int],
) -> None:
    server, port = listening
    with socket.create_connection((HOST, port), timeout=10) as idle:
        assert idle.recv(1024).startswith(b"220 ")
        idle.sendall(b"HELO mta.example\r\n")
        assert idle.recv(1024).startswith(b"250")
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0  # the idle timeout is 300 s
        assert idle.recv(1024) == b""  # closed by the server
    assert "smtp listening" in server.log_text()
