"""``tracker serve --workers N``: several processes, one port, one store (each store)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Rows
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

KEY = "workers-test-key-at-least-32-characters"
pytestmark = pytest.mark.process


async def send(base: str, tokens: Tokens, count: int, concurrency: int = 32) -> list[int]:
    """Opens and clicks, each for its own recipient; the statuses in order."""
    statuses = [0] * count
    queue = list(range(count))

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            i = queue.pop()
            message = Message("d", f"r-{i}", "c", "e")
            if i % 2:
                path = f"/c/{tokens.click_token(Click(message, 0, 'https://example.com/'))}"
            else:
                path = f"/o/{tokens.open_token(message)}.gif"
            async with session.get(base + path, allow_redirects=False) as resp:
                await resp.read()
                statuses[i] = resp.status

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return statuses


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path, settings: Settings) -> Iterator[ServerProcess]:
    env = clean_env(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=KEY,
        TRACKER_API_KEYS="api-key-of-at-least-32-characters",
        TRACKER_LOG_FORMAT="json",
    )
    proc = ServerProcess(tmp_path, env, free_port(), args=("--workers", "2"))
    yield proc.start()
    proc.stop()


async def test_two_workers_share_the_port_and_the_database(
    server: ServerProcess, settings: Settings, rows: Rows
) -> None:
    server.wait_healthy(timeout=15)
    assert len(server.children()) == 2
    statuses = await send(server.base_url, Tokens([KEY]), 2000)
    assert statuses.count(200) == 1000 and statuses.count(302) == 1000

    # A worker that dies is replaced; the other keeps serving meanwhile. (Connections the
    # kernel handed to the dying worker's socket in the instant of its death are reset:
    # send once it is gone.)
    victim = server.children()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in server.children())
    more = await send(server.base_url, Tokens([KEY]), 200)
    assert set(more) == {200, 302}
    wait_for(lambda: len(server.children()) == 2)

    server.signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    if not settings.database_url:
        db = sqlite3.connect(settings.sqlite_path)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    recipients = {r["recipient"] for r in rows("SELECT DISTINCT recipient FROM hits")}
    assert recipients == {f"r-{i}" for i in range(2000)}
    clicked = rows("SELECT count(*) AS n FROM events WHERE type = 'clicked'")[0]["n"]
    assert clicked == 1000 + 100
    assert "database is locked" not in server.log_text()
