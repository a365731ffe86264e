"""Servers and clients for the suite: ``tracker serve`` subprocesses on loopback.

Reuses tests/serverproc.py (the process tests' launcher). Every server the suite starts
is registered here and stopped (SIGTERM, then SIGKILL) when the suite ends.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.serverproc import HOST, ServerProcess, clean_env, free_port, healthz
from tracker.tokens import Tokens

__all__ = ["HOST", "ServerProcess", "free_port", "healthz"]

SECRET = "reliability-signing-key-at-least-32-characters"
# Still configured: verifies, does not sign.
OLD_SECRET = "reliability-older-key-at-least-32-characters"
# No longer configured: must not verify.
RETIRED_SECRET = "reliability-retired-key-at-least-32-characters"
API_KEY = "reliability-api-key-at-least-32-characters"
# A person's mail program: the user-agent signal calls aiohttp's own a machine's.
PERSON = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
    " (KHTML, like Gecko)"
}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
TOKENS = Tokens([OLD_SECRET, SECRET])

_started: list[ServerProcess] = []


def server_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a suite server: its data dir, known keys, JSON logs."""
    return clean_env(
        TRACKER_DATA_DIR=str(data),
        TRACKER_SECRET_KEYS=f"{OLD_SECRET},{SECRET}",
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
        **extra,
    )


def start(
    work: Path, name: str, port: int | None = None, args: tuple[str, ...] = (), **extra: str
) -> ServerProcess:
    """Start a server in ``work`` (data in ``work/data``) and wait until it is healthy."""
    work.mkdir(parents=True, exist_ok=True)
    proc = ServerProcess(work, server_env(work / "data", **extra), port or free_port(), name, args)
    _started.append(proc.start())
    proc.wait_healthy(timeout=20)
    return proc


def spawn(proc: ServerProcess) -> ServerProcess:
    """Start ``proc`` again (same port, data and log), registered for the final stop."""
    fresh = ServerProcess(proc.cwd, proc.env, proc.port, proc.log_path.stem, proc.args)
    _started.append(fresh.start())
    return fresh


def stop_all() -> None:
    """Stop every server the suite started."""
    while _started:
        _started.pop().stop()


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived read connection to the SQLite file."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def integrity(path: Path) -> str:
    with database(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def session(
    concurrency: int = 32,
    local_addr: str | None = None,
    timeout: float = 30,
    headers: dict[str, str] | None = None,
    **connector: Any,
) -> aiohttp.ClientSession:
    """An aiohttp session that never silently resends a request on a closed socket."""
    conn = aiohttp.TCPConnector(
        limit=concurrency, local_addr=(local_addr, 0) if local_addr else None, **connector
    )
    client = aiohttp.ClientSession(
        connector=conn,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers=PERSON if headers is None else headers,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    # One attempt per request, as aiohttp's TestClient does: each failure is the server's.
    client._retry_connection = False
    return client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        sample, _, rest = key.partition("{")
        if sample != name:
            continue
        got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
        if not labels or all(f'{k}="{v}"' in got.split(",") for k, v in labels.items()):
            total += float(value)
    return total


def cpu_count() -> int:
    return os.cpu_count() or 1
