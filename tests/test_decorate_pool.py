"""Decoration runs beside the server: pixels are answered meanwhile, its processes end with it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import HOST, ServerProcess, clean_env, free_port
from tracker.tokens import Message, Tokens

pytestmark = pytest.mark.process
KEY = "decorate-pool-test-key-at-least-32-characters"
API_KEY = "decorate-pool-api-key-at-least-32-characters"
# CPython's parser rescans to the end from each unclosed "<a ": this took about a minute
# on the event loop, and every other request waited for it.
PATHOLOGICAL = '<a href="https://shop.example/">Sale</a>' + "<a " * 20_000


def start(tmp_path: Path, *args: str, **env: str) -> ServerProcess:
    environment = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), TRACKER_SECRET_KEYS=KEY,
                            TRACKER_API_KEYS=API_KEY, TRACKER_LOG_FORMAT="json", **env)  # fmt: skip
    server = ServerProcess(tmp_path, environment, free_port(), args=args).start()
    server.wait_healthy(timeout=20)
    return server


def post_decorate(port: int, html: str, recipient: str = "r1") -> tuple[int, Any]:
    body = {"delivery": "d1", "campaign": "c1", "email": "e1", "recipient": recipient,
            "html": html}  # fmt: skip
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/api/v1/decorate", json.dumps(body), headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def post_unanswered(port: int) -> None:
    """The pathological call, for a server that is killed before it answers."""
    with contextlib.suppress(OSError):
        post_decorate(port, PATHOLOGICAL)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        path = Path(f"/proc/{todo.pop()}/task")
        for task in path.iterdir() if path.exists() else []:
            children = task / "children"
            kids = {int(p) for p in children.read_text().split()} if children.exists() else set()
            todo += kids - found
            found |= kids
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids in ``pids`` that are still running (not gone, not zombies)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def test_pixels_are_answered_while_a_pathological_template_is_decorated(tmp_path: Path) -> None:
    server = start(tmp_path, TRACKER_DECORATE_SECONDS="3")
    try:
        answer: list[tuple[int, Any]] = []
        worker = threading.Thread(
            target=lambda: answer.append(post_decorate(server.port, PATHOLOGICAL))
        )
        tokens = Tokens([KEY])
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        latencies: list[float] = []
        pool: set[int] = set()
        worker.start()
        deadline = time.monotonic() + 5  # the decorate process shows up on the first call
        while not pool and time.monotonic() < deadline:
            pool = descendants(server.pid)
            time.sleep(0.01)
        while worker.is_alive():
            path = f"/o/{tokens.open_token(Message('d1', f'p{len(latencies)}', 'c1', 'e1'))}.gif"
            started = time.monotonic()
            try:
                conn.request("GET", path, headers={"User-Agent": "Mozilla/5.0"})
                resp = conn.getresponse()
                resp.read()
            except TimeoutError:
                pytest.fail("a pixel waited 30 s for the decorate call")
            latencies.append(time.monotonic() - started)
            assert resp.status == 200
            time.sleep(0.01)
        worker.join()
        conn.close()

        status, body = answer[0]
        assert status == 422 and body["error"] == "too_costly", body
        assert pool, "decoration ran in a process of its own"
        # On the event loop each pixel waited for the whole call (seconds); 1 s is generous
        # for a loaded machine and far below that.
        assert len(latencies) >= 20, latencies
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        with sqlite3.connect(tmp_path / "data" / "tracker.db") as db:
            assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
        server.signal(15)
        assert server.wait(timeout=20) == 0
        assert wait_gone(pool) == set(), "the decorate processes end with the server"
    finally:
        server.stop()


@pytest.mark.parametrize("group", [False, True], ids=["server", "every-process"])
def test_sigterm_during_a_decorate_call_stops_its_process(tmp_path: Path, group: bool) -> None:
    # systemd (KillMode=control-group) sends SIGTERM to every process of the service.
    server = start(tmp_path, TRACKER_DECORATE_SECONDS="120", TRACKER_SHUTDOWN_TIMEOUT="2")
    try:
        answer: list[tuple[int, Any]] = []
        caller = threading.Thread(
            target=lambda: answer.append(post_decorate(server.port, PATHOLOGICAL)), daemon=True
        )
        caller.start()
        deadline = time.monotonic() + 10
        while not (pool := descendants(server.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool, "decoration runs in a process of its own"
        time.sleep(0.5)  # well into the call
        started = time.monotonic()
        server.signal(15)
        for pid in pool if group else ():
            os.kill(pid, 15)
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - started < 15, "the call's 120 s budget did not hold the stop"
        assert wait_gone(pool) == set()
        caller.join(timeout=10)
        status, body = answer[0]
        assert status == 503 and body["error"] == "busy", "the call in flight is answered"
        errors = [r for r in server.log_records() if r.get("level") == "error"]
        assert errors == [], "a stop is not a failure"
    finally:
        server.stop()


def test_a_stop_signal_to_a_decorate_process_while_it_starts_is_ignored(tmp_path: Path) -> None:
    # A group's SIGTERM (systemd, Ctrl-C) may come while a pool process is still starting,
    # before it has set itself to ignore the signal: it must not die of it.
    server = start(tmp_path)
    try:
        html = '<p><a href="https://shop.example/">Sale</a></p>'
        answer: list[tuple[int, Any]] = []
        caller = threading.Thread(target=lambda: answer.append(post_decorate(server.port, html)))
        caller.start()
        signalled: set[int] = set()
        deadline = time.monotonic() + 10
        while caller.is_alive() and time.monotonic() < deadline:
            for pid in descendants(server.pid) - signalled:  # as soon as each appears
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 15)
                signalled.add(pid)
            time.sleep(0.001)
        caller.join(timeout=60)
        assert signalled, "decoration runs in a process of its own"
        assert answer[0][0] == 200, answer
        assert post_decorate(server.port, html)[0] == 200, "and the pool still serves"
        errors = [r for r in server.log_records() if r.get("level") == "error"]
        assert errors == []
    finally:
        server.stop()


def test_a_killed_server_leaves_no_decorate_process(tmp_path: Path) -> None:
    server = start(tmp_path, TRACKER_DECORATE_SECONDS="120")
    try:
        threading.Thread(target=post_unanswered, args=(server.port,), daemon=True).start()
        deadline = time.monotonic() + 10
        while not (pool := descendants(server.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool, "decoration runs in a process of its own"
        time.sleep(0.5)  # into the call, or still starting: both must end
        server.signal(9)
        server.wait(timeout=10)
        assert wait_gone(pool) == set(), "orphaned decorate processes"
    finally:
        server.stop()


def test_workers_stop_with_their_decorate_processes(tmp_path: Path) -> None:
    server = start(tmp_path, "--workers", "2")
    try:
        html = '<p><a href="https://shop.example/">Sale</a></p>'
        for i in range(8):  # new connections: the kernel spreads them over both workers
            status, _ = post_decorate(server.port, html, recipient=f"r{i}")
            assert status == 200
        everything = descendants(server.pid)
        workers = set(server.children())
        assert len(everything - workers) >= 1, "decorate processes below the workers"
        server.signal(15)
        assert server.wait(timeout=30) == 0
        assert wait_gone(everything) == set()
    finally:
        server.stop()
