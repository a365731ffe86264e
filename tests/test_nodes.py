"""Two tracker nodes (processes on their own ports) sharing one store.

On PostgreSQL this is the deployment for several machines; on SQLite, two processes on
one file. The same opens sent to both at once make one Opened; every click counts; the
reports agree whichever node answers; a node killed with -9 under load loses no hit it
acknowledged while the other keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import PERSON, Rows
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

KEY = "nodes-test-key-at-least-32-characters"
API = "nodes-api-key-at-least-32-characters"
AUTH = {"Authorization": f"Bearer {API}"}
pytestmark = pytest.mark.process


@pytest.fixture
def nodes(settings: Settings, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two nodes on the test's store (its SQLite file or its PostgreSQL schema)."""
    env = clean_env(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=KEY,
        TRACKER_API_KEYS=API,
        TRACKER_LOG_FORMAT="json",
        TRACKER_WORKFLOW_INTERVAL="0",
    )
    started = [ServerProcess(tmp_path, env, free_port(), name=f"node-{n}").start() for n in "ab"]
    try:
        for node in started:
            node.wait_healthy(timeout=20)
        yield started
    finally:
        for node in started:
            node.stop()


async def get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url, allow_redirects=False, headers=PERSON) as resp:
        await resp.read()
        return resp.status


async def test_two_nodes_one_opened_every_click_and_the_same_reports(
    nodes: list[ServerProcess], rows: Rows
) -> None:
    tokens = Tokens([KEY])
    people = [Message("spring", f"p-{i}", "c", "e") for i in range(40)]
    async with aiohttp.ClientSession() as session:
        # The same open, to both nodes at once, twice over.
        opens = [
            get(session, f"{node.base_url}/o/{tokens.open_token(m)}.gif")
            for m in people
            for node in nodes
            for _ in range(2)
        ]
        assert set(await asyncio.gather(*opens)) == {200}
        # A click on the same link through each node: both are the person's.
        clicks = [
            get(
                session,
                f"{node.base_url}/c/{tokens.click_token(Click(m, 0, 'https://a.example/'))}",
            )
            for m in people
            for node in nodes
        ]
        assert set(await asyncio.gather(*clicks)) == {302}

        reports = []
        for node in nodes:
            stats_url = f"{node.base_url}/api/v1/deliveries/spring/stats"
            urls_url = f"{node.base_url}/api/v1/deliveries/spring/urls"
            async with session.get(stats_url, headers=AUTH) as stats:
                assert stats.status == 200
                body: dict[str, Any] = await stats.json()
            async with session.get(urls_url, headers=AUTH) as urls:
                body["urls"] = await urls.json()
            reports.append(body)

    opened = rows("SELECT recipient, count(*) AS n FROM events WHERE type = 'opened'"
                  " GROUP BY recipient")  # fmt: skip
    assert {r["recipient"]: r["n"] for r in opened} == {m.recipient: 1 for m in people}
    assert rows("SELECT count(*) AS n FROM hits WHERE route = 'open'")[0]["n"] == 160
    assert rows("SELECT count(*) AS n FROM events WHERE type = 'clicked'")[0]["n"] == 80
    assert reports[0] == reports[1], "both nodes report the same numbers"
    assert (reports[0]["opened"], reports[0]["clicks"], reports[0]["unique_clickers"]) == (
        40,
        80,
        40,
    )


async def test_kill_9_of_one_node_under_load_loses_no_acknowledged_hit(
    nodes: list[ServerProcess], rows: Rows
) -> None:
    tokens = Tokens([KEY])
    victim, survivor = nodes
    acked: dict[str, int] = {}  # recipient -> the node's port that acknowledged its click
    after_kill: list[int] = []
    killed = asyncio.Event()
    enough = asyncio.Event()  # set once 600 clicks are acknowledged
    counter = iter(range(1_000_000))

    async def worker(node: ServerProcess, session: aiohttp.ClientSession) -> None:
        while True:
            i = next(counter)
            if i >= 6000 or node is survivor and killed.is_set() and len(after_kill) >= 400:
                return
            m = Message("load", f"r-{i}", "c", "e")
            url = f"{node.base_url}/c/{tokens.click_token(Click(m, 0, 'https://a.example/'))}"
            try:
                status = await get(session, url)
            except aiohttp.ClientError:
                if node is victim:
                    return  # the node is gone: what it did not answer was not acknowledged
                raise
            if node is survivor and killed.is_set():
                after_kill.append(status)
            if status == 302:
                acked[m.recipient] = node.port
                if len(acked) >= 600:
                    enough.set()

    async def killer() -> None:
        await enough.wait()
        os.kill(victim.pid, signal.SIGKILL)
        killed.set()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        workers = [worker(node, session) for node in nodes for _ in range(8)]
        await asyncio.gather(killer(), *workers)

    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert len(after_kill) >= 400 and set(after_kill) == {302}, "the other node kept serving"
    stored = {r["recipient"] for r in rows("SELECT recipient FROM events WHERE type = 'clicked'")}
    lost = set(acked) - stored
    assert not lost, f"{len(lost)} acknowledged clicks lost"
    by_victim = sum(1 for port in acked.values() if port == victim.port)
    assert by_victim > 0, "the victim acknowledged clicks before it died"
