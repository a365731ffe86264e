"""Run ``python -m tracker serve`` as a real subprocess on a loopback port, for process tests."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free on the loopback address a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(**tracker: str) -> dict[str, str]:
    """This process's environment without any ``TRACKER_*`` variable, plus ``tracker``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(tracker)
    return env


def healthz(port: int, timeout: float = 1.0) -> int | None:
    """The status of ``GET /healthz``, or None when nothing answers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


# The head of a pixel request cut off in the middle of a header: a client that stopped.
HALF = b"GET /o/x.gif HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla/5.0\r\nX-Slow: "


def open_sockets(port: int, count: int, within: float) -> list[socket.socket]:
    """``count`` connections to ``port`` opened at once (non-blocking); those the kernel
    completed within ``within`` seconds (a server out of descriptors leaves some pending:
    those are closed, not held, since a connection the kernel completes seconds later,
    after its SYN was retried, is not one the server was holding)."""
    socks = []
    with selectors.DefaultSelector() as sel:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((HOST, port))
            sel.register(sock, selectors.EVENT_WRITE)
            socks.append(sock)
        pending = set(socks)
        end = time.monotonic() + within
        while pending and time.monotonic() < end:
            for key, _ in sel.select(timeout=0.1):
                sel.unregister(key.fileobj)
                pending.discard(key.fileobj)  # type: ignore[arg-type]
    for sock in pending:
        sock.close()
    return [sock for sock in socks if sock not in pending]


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (EOF, reset, or the connect refused)."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class ServerProcess:
    """One ``tracker serve`` subprocess; its stderr and stdout go to a log file in ``cwd``."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        port: int,
        name: str = "server",
        args: tuple[str, ...] = (),
    ) -> None:
        self.cwd = cwd
        self.args = args
        self.env = env
        self.port = port
        self.log_path = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "tracker", "serve", "--host", HOST, "--port", str(self.port)]
        cmd += self.args
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                cmd, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        return self

    def wait_healthy(self, timeout: float = 10.0) -> float:
        """Poll /healthz until 200; returns seconds since spawn. Fails if the process dies;
        a server not healthy in time is stopped before the failure, never left running."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode} before it was healthy:\n"
                    + self.log_text()
                )
            if healthz(self.port, timeout=0.5) == 200:
                return time.monotonic() - self.started_at
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"server not healthy within {timeout} s:\n" + self.log_text())

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        """The exit code, waiting at most ``timeout`` seconds (TimeoutExpired otherwise)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL; always reaps it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def children(self) -> list[int]:
        """Pids of the process's children (the workers of ``--workers N``)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (other lines, if any, are skipped)."""
        out = []
        for line in self.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out
