"""Reliability row 1's click loads and checks against a real server: every click of a hot
token and of a scanner is stored under the id it was sent with, and the checks name a
hit that is missing, a hit no client sent and stats that count fewer clicks than were
answered (the row passes only because none of these happen)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.clickloads import (
    SCANNED,
    TAG,
    ClickLoad,
    HotLoad,
    ScannerLoad,
    check_clicks,
    stats_problems,
    tagged_clicks,
)
from reliability.harness import ServerProcess, free_port, server_env

pytestmark = pytest.mark.process


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, server_env(tmp_path / "data"), free_port(), "clicks")
    proc.start()
    try:
        proc.wait_healthy(timeout=20)
        yield proc
    finally:
        proc.stop()


async def until_answered(load: ClickLoad, count: int) -> None:
    """Run ``load`` until ``count`` clicks were answered (or 30 s passed)."""
    clients = asyncio.create_task(load.run())
    for _ in range(3000):
        if len(load.load.acked) >= count or clients.done():
            break
        await asyncio.sleep(0.01)
    load.stop.set()
    await clients


def test_hot_and_scanner_clicks_are_each_stored_under_their_id(server: ServerProcess) -> None:
    db = server.cwd / "data" / "tracker.db"
    hot, scanner = HotLoad(server.base_url, "hot"), ScannerLoad(server.base_url, "scan")
    asyncio.run(until_answered(hot, 300))
    asyncio.run(until_answered(scanner, SCANNED[1] + 50))
    for load in (hot, scanner):
        assert not load.load.failed and not load.load.bad, (load.load.failed, load.load.bad)
        result = check_clicks(db, load)
        assert (result.lost, result.phantom) == ([], [])
        assert result.stored == len(load.load.acked)
        assert stats_problems(server.base_url, load.load.delivery, tagged_clicks(load)) == []
    assert {r for r, _ in hot.sent.values()} == {"hot-hot"}
    # The scanner followed every link of its first recipient, then went on to the next.
    assert {link for r, link in scanner.sent.values() if r == "scan-s0"} == set(range(SCANNED[1]))
    assert "scan-s1" in {r for r, _ in scanner.sent.values()}


def test_the_checks_name_a_lost_hit_a_phantom_and_short_stats(server: ServerProcess) -> None:
    db = server.cwd / "data" / "tracker.db"
    hot = HotLoad(server.base_url, "hot")
    asyncio.run(until_answered(hot, 200))
    server.stop()
    lost = next(iter(hot.load.acked))
    conn = sqlite3.connect(db)
    with conn:
        (hit_id,) = conn.execute(
            "SELECT id FROM hits WHERE user_agent LIKE ?", (f"%{TAG}{lost}",)
        ).fetchone()
        conn.execute("DELETE FROM events WHERE hit_id = ?", (hit_id,))
        conn.execute("DELETE FROM hits WHERE id = ?", (hit_id,))
        conn.execute(
            "INSERT INTO hits (at, route, method, outcome, delivery, recipient, campaign,"
            " email, link, user_agent) SELECT at, route, method, outcome, delivery, recipient,"
            " campaign, email, link, ? FROM hits WHERE delivery = 'hot' LIMIT 1",
            (f"Mozilla/5.0{TAG}hot-never-sent",),
        )
    conn.close()

    result = check_clicks(db, hot)
    assert result.lost == [lost]
    assert len(result.phantom) == 1 and result.phantom[0].startswith("hit ")

    restarted = ServerProcess(server.cwd, server.env, server.port, "restarted")
    try:
        restarted.start().wait_healthy(timeout=20)
        problems = stats_problems(restarted.base_url, "hot", tagged_clicks(hot))
    finally:
        restarted.stop()
    acked = len(hot.load.acked)
    assert problems == [f"hot: clicks {acked - 1}, acknowledged {acked}, sent {len(hot.sent)}"]
