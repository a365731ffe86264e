"""The real server as a process: fresh start, kill -9 under load, SIGTERM under load.

Each test spawns ``python -m tracker serve`` on a free loopback port with its own data
directory, talks to it over real HTTP and reads the real SQLite file afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PERSON
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.routes.tracking import PIXEL
from tracker.tokens import Click, Message, Tokens

pytestmark = pytest.mark.process

SECRET = "process-test-signing-key-at-least-32-characters"
API_KEY = "process-test-api-key-at-least-32-characters"
DELIVERY, CAMPAIGN, EMAIL = "d-load", "c-load", "e-load"
CONCURRENCY = 48
# Load runs at least this long and until this many requests were answered, then the blow.
MIN_LOAD_SECONDS = 1.0
MIN_ACKED = 300
MAX_LOAD_SECONDS = 8.0
# Connection-level failures: the listener is gone or the socket was closed or reset.
CONNECTION_ERRORS = (
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
)


def recipient(i: int) -> str:
    return f"r-{i}"


def target(i: int) -> str:
    return f"https://example.com/landing/{i}"


def is_click(i: int) -> bool:
    return i % 2 == 1


def request_path(tokens: Tokens, i: int) -> str:
    """Request ``i``: an open (even) or a click (odd), each with its own recipient."""
    message = Message(DELIVERY, recipient(i), CAMPAIGN, EMAIL)
    if is_click(i):
        return "/c/" + tokens.click_token(Click(message, 0, target(i)))
    return f"/o/{tokens.open_token(message)}.gif"


@dataclass
class Load:
    """What the clients saw, per request number."""

    started: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    failed: dict[int, tuple[float, BaseException]] = field(default_factory=dict)
    bad_status: dict[int, int] = field(default_factory=dict)

    @property
    def in_flight(self) -> set[int]:
        return set(self.started) - set(self.acked) - set(self.failed) - set(self.bad_status)


async def client_worker(
    session: aiohttp.ClientSession,
    base_url: str,
    tokens: Tokens,
    numbers: Iterator[int],
    load: Load,
    stop: asyncio.Event,
) -> None:
    """Send requests one after another on a shared pool until ``stop`` or the server is gone."""
    while not stop.is_set():
        i = next(numbers)
        path = request_path(tokens, i)
        load.started[i] = time.monotonic()
        try:
            async with session.get(base_url + path, allow_redirects=False) as resp:
                body = await resp.read()
                ok = (resp.status == 200 and body == PIXEL) or (
                    resp.status == 302 and resp.headers.get("Location") == target(i)
                )
                if ok and (resp.status == 302) == is_click(i):
                    load.acked[i] = time.monotonic()
                else:
                    load.bad_status[i] = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            load.failed[i] = (time.monotonic(), exc)
            if isinstance(exc, aiohttp.ClientConnectorError):
                return  # nothing listens any more


def new_session() -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONCURRENCY),
        timeout=aiohttp.ClientTimeout(total=15),
        headers=PERSON,
    )
    # Like aiohttp's own TestClient: one attempt per request, no silent resend of a GET on
    # a keep-alive socket the server closed, so each failure is what the server did.
    session._retry_connection = False
    return session


async def load_until(server: ServerProcess, tokens: Tokens, blow: int) -> tuple[Load, float, int]:
    """Run the clients, send ``blow`` (a signal) mid-load, let the clients run out.

    Returns what the clients saw, when the signal was sent and how many were in flight.
    """
    load = Load()
    stop = asyncio.Event()
    numbers = itertools.count()
    async with new_session() as session:
        workers = [
            asyncio.create_task(
                client_worker(session, server.base_url, tokens, numbers, load, stop)
            )
            for _ in range(CONCURRENCY)
        ]
        began = time.monotonic()
        while time.monotonic() - began < MAX_LOAD_SECONDS:
            await asyncio.sleep(0.05)
            assert not load.bad_status, f"bad answers under load: {load.bad_status}"
            assert not load.failed, f"failures under load: {list(load.failed.values())[:3]}"
            if time.monotonic() - began >= MIN_LOAD_SECONDS and len(load.acked) >= MIN_ACKED:
                break
        sent_at = time.monotonic()
        in_flight = len(load.in_flight)
        server.signal(blow)
        # Clients keep sending until they meet a closed listener (or 10 s have passed).
        _, pending = await asyncio.wait(workers, timeout=10)
        stop.set()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=5)
        for task in pending:
            task.cancel()
        assert not pending, "clients did not finish after the signal"
        for task in workers:
            task.result()
    return load, sent_at, in_flight


def stored(db: Path) -> tuple[dict[str, str], dict[str, str], int, str]:
    """Rows of the load: hits by recipient, events by recipient, hits without event, check."""
    conn = sqlite3.connect(db)
    try:
        hits = dict(
            conn.execute("SELECT recipient, route FROM hits WHERE delivery = ?", (DELIVERY,))
        )
        events = dict(
            conn.execute("SELECT recipient, type FROM events WHERE delivery = ?", (DELIVERY,))
        )
        orphans = conn.execute(
            "SELECT count(*) FROM hits h LEFT JOIN events e ON e.hit_id = h.id"
            " WHERE h.delivery = ? AND e.id IS NULL",
            (DELIVERY,),
        ).fetchone()[0]
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return hits, events, orphans, check


def kinds(load: Load) -> str:
    """How the failed requests failed, e.g. ``ClientConnectorError: 48``."""
    counts: dict[str, int] = {}
    for _, exc in load.failed.values():
        counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1
    return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "none"


def assert_acked_stored(load: Load, hits: dict[str, str], events: dict[str, str]) -> None:
    lost_hits = [i for i in load.acked if recipient(i) not in hits]
    lost_events = [i for i in load.acked if recipient(i) not in events]
    assert not lost_hits, f"{len(lost_hits)} answered requests have no hit: {lost_hits[:10]}"
    assert not lost_events, (
        f"{len(lost_events)} answered requests have no event: {lost_events[:10]}"
    )
    for i in load.acked:
        assert hits[recipient(i)] == ("click" if is_click(i) else "open")
        assert events[recipient(i)] == ("clicked" if is_click(i) else "opened")
    phantom = set(hits) - {recipient(i) for i in load.started}
    assert not phantom, f"rows for requests never sent: {sorted(phantom)[:10]}"


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_SECRET_KEYS=SECRET,
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
    )


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Every server a test starts is stopped (and reaped) at teardown, whatever happened."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def test_fresh_start_works_with_no_configuration(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    server = ServerProcess(tmp_path, clean_env(), free_port())
    servers.append(server.start())
    took = server.wait_healthy(timeout=5.0)
    print(f"\nfresh start: /healthz 200 after {took:.2f} s")

    data = tmp_path / "tracker-data"
    assert (data / "tracker.db").is_file()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700, "the data dir must be private"
    keys = {}
    for name in ("secret_keys", "api_key"):
        path = data / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{name} must be private"
        keys[name] = path.read_text(encoding="utf-8").strip()
        assert len(keys[name]) >= 32

    server.signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0
    text = server.log_text()
    for value in keys.values():
        assert value not in text, "a generated key was written to the log"
    starting = next(r for r in server.log_records() if r.get("event") == "starting")
    assert starting["secret_keys_file"] == str((data / "secret_keys").resolve())
    assert starting["api_key_file"] == str((data / "api_key").resolve())
    assert starting["database"] == str((data / "tracker.db").resolve())
    assert any(r.get("event") == "stopped" for r in server.log_records())


def test_kill_9_mid_load_keeps_every_answered_hit(
    tmp_path: Path, server_env: dict[str, str], servers: list[ServerProcess]
) -> None:
    tokens = Tokens([SECRET])
    port = free_port()
    first = ServerProcess(tmp_path, server_env, port, name="first")
    servers.append(first.start())
    first.wait_healthy()

    load, _, in_flight = asyncio.run(load_until(first, tokens, signal.SIGKILL))
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert not load.bad_status, f"bad answers: {load.bad_status}"
    assert len(load.acked) >= MIN_ACKED

    second = ServerProcess(tmp_path, server_env, port, name="second")
    servers.append(second.start())
    second.wait_healthy()

    hits, events, orphans, check = stored(tmp_path / "data" / "tracker.db")
    print(
        f"\nkill -9: sent {len(load.started)}, acknowledged {len(load.acked)}, "
        f"in flight at the kill {in_flight}, failed {len(load.failed)} ({kinds(load)}), "
        f"stored hits {len(hits)}, stored events {len(events)}"
    )
    assert check == "ok"
    assert orphans == 0, "a hit was committed without its event"
    assert_acked_stored(load, hits, events)

    # The restarted server reports the last answered hits through its API too.
    last = sorted(load.acked, key=load.acked.__getitem__)[-10:]

    async def tracked() -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for i in last:
                url = f"{second.base_url}/api/v1/recipients/{recipient(i)}/tracking"
                async with session.get(url, headers=auth) as resp:
                    assert resp.status == 200
                    items = (await resp.json())["items"]
                assert [item["type"] for item in items] == (
                    ["clicked"] if is_click(i) else ["opened"]
                )

    asyncio.run(tracked())
    second.signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0


def test_sigterm_under_load_answers_and_stores_then_exits_0(
    tmp_path: Path, server_env: dict[str, str], servers: list[ServerProcess]
) -> None:
    tokens = Tokens([SECRET])
    server = ServerProcess(tmp_path, server_env, free_port())
    servers.append(server.start())
    server.wait_healthy()

    load, sent_at, in_flight = asyncio.run(load_until(server, tokens, signal.SIGTERM))
    try:
        code = server.wait(timeout=max(0.1, sent_at + 10 - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not exit within 10 s of SIGTERM:\n" + server.log_text())
    exited = time.monotonic() - sent_at
    assert code == 0, server.log_text()

    hits, events, orphans, check = stored(tmp_path / "data" / "tracker.db")
    after = [i for i, t in load.acked.items() if load.started[i] <= sent_at < t]
    print(
        f"\nSIGTERM: sent {len(load.started)}, answered {len(load.acked)} "
        f"({len(after)} of them in flight at the signal), in flight at the signal {in_flight}, "
        f"refused/reset {len(load.failed)} ({kinds(load)}), stored hits {len(hits)}, "
        f"exit 0 after {exited:.2f} s"
    )
    assert not load.bad_status, f"answers other than the GIF / redirect: {load.bad_status}"
    for i, (when, exc) in load.failed.items():
        assert when >= sent_at, f"request {i} failed before SIGTERM: {exc!r}"
        assert isinstance(exc, CONNECTION_ERRORS), f"request {i} failed oddly: {exc!r}"
    assert check == "ok"
    assert orphans == 0, "a hit was committed without its event"
    assert_acked_stored(load, hits, events)

    events_logged = [r.get("event") for r in server.log_records()]
    assert "store closed" in events_logged
    assert events_logged[-1] == "stopped"
    assert not [r for r in server.log_records() if r.get("level") in ("error", "critical")]
    assert "Traceback" not in server.log_text()


def test_files_holding_tracking_data_are_private_in_an_existing_data_directory(
    tmp_path: Path, server_env: dict[str, str], servers: list[ServerProcess]
) -> None:
    """A data directory the operator made (0755) under a 022 umask: every file tracker
    writes there or elsewhere with tracking data is still its owner's alone (0600)."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)

    def tracker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracker", *args], env=server_env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    umask = os.umask(0o022)  # what the operator's shell commonly has
    try:
        server = ServerProcess(tmp_path, server_env, free_port())
        servers.append(server.start())
        server.wait_healthy()
        token = Tokens([SECRET]).open_token(Message(DELIVERY, "r1", CAMPAIGN, EMAIL))
        with urllib.request.urlopen(f"{server.base_url}/o/{token}.gif", timeout=10) as resp:
            assert resp.read() == PIXEL
        names = ("tracker.db", "tracker.db-wal", "tracker.db-shm")
        live = {name: mode(data / name) for name in names}
        backup = tracker("db", "backup", str(tmp_path / "backup.db"))
        export = tracker("export", "-o", str(tmp_path / "events.jsonl"))
    finally:
        os.umask(umask)
    assert live == dict.fromkeys(names, 0o600)
    assert backup.returncode == 0, backup.stderr
    assert export.returncode == 0, export.stderr
    assert '"opened"' in (tmp_path / "events.jsonl").read_text(encoding="utf-8")
    assert mode(tmp_path / "backup.db") == 0o600
    assert mode(tmp_path / "events.jsonl") == 0o600
    server.signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0
    assert {p.name: mode(p) for p in data.iterdir()} == dict.fromkeys(
        [p.name for p in data.iterdir()], 0o600
    ), "nothing the server left behind is readable by others"
