"""The tracking workflow: runs change no number, concurrent runs never double-count, and a
failed run is recorded, shown on /healthz, and caught up by the next."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

import tracker.workflow
from tests.conftest import API_KEY, Rows
from tests.helpers import Clock, trusting_app
from tests.mailing import all_reports, mail
from tests.serverproc import clean_env
from tracker.config import Settings
from tracker.keys import WORKFLOW
from tracker.store.postgres.schema import lock_key
from tracker.tokens import Tokens
from tracker.workflow import WorkflowFailed


def cli_run(settings: Settings) -> subprocess.Popen[str]:
    """``tracker workflow run`` as its own process, on the test's database."""
    env = clean_env(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=",".join(settings.secret_keys),
        TRACKER_API_KEYS=",".join(settings.api_keys),
        TRACKER_FORGET_KEY=settings.forget_key,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "workflow", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_runs_in_and_beside_the_server_change_no_number(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock, workflow_interval=0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    await mail(client, clock, tokens, auth, start)
    clock.now = datetime.now(UTC)
    live = await all_reports(client, auth)
    assert rows("SELECT count(*) AS n FROM report_totals") == [{"n": 0}]

    # Two CLI processes at once, beside the server, then the server's own run.
    both = [cli_run(settings), cli_run(settings)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    read = sorted(int(out.split(" events read")[0].split()[-1]) for out, _ in outputs)
    events = rows("SELECT count(*) AS n FROM events")[0]["n"]
    assert read == [0, events], "one run consolidated everything, the other found nothing"
    again = await client.app[WORKFLOW].run()
    assert again.rows_read == 0

    assert rows("SELECT count(*) AS n FROM report_totals")[0]["n"] > 0
    assert await all_reports(client, auth) == live

    # New hits after the runs are the live tail: still counted, once.
    clock.now = datetime.now(UTC)
    resp = await client.post(
        "/api/v1/events",
        headers=auth,
        json=[{"id": "late", "type": "sent", "delivery": "fall-sale", "recipient": "late"}],
    )
    assert resp.status == 200
    stats = await (await client.get("/api/v1/deliveries/fall-sale/stats", headers=auth)).json()
    assert stats["sent"] == live["stats exclude"]["sent"] + 1
    runs = rows("SELECT outcome, rows_read FROM workflow_runs ORDER BY id")
    assert [r["outcome"] for r in runs] == ["ok", "ok", "ok"]


async def test_a_failed_run_is_recorded_shown_and_caught_up(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], rows: Rows
) -> None:
    clock = Clock()
    client = await aiohttp_client(
        trusting_app(settings, clock, workflow_interval=3600, busy_timeout_ms=100)
    )
    await mail(client, clock, tokens, auth, clock.now)
    clock.now += timedelta(days=3)
    live = await all_reports(client, auth)

    # Another writer holds the write lock past the timeout.
    if settings.database_url:
        blocker = await asyncpg.connect(settings.database_url)
        await blocker.execute(f"SELECT pg_advisory_lock({lock_key('writes')})")
        release: Callable[[], Awaitable[None]] = blocker.close
    else:
        sqlite_blocker = sqlite3.connect(settings.sqlite_path, isolation_level=None)
        sqlite_blocker.execute("BEGIN IMMEDIATE")

        async def release() -> None:
            sqlite_blocker.execute("ROLLBACK")
            sqlite_blocker.close()

    try:
        with pytest.raises(WorkflowFailed, match="lock"):
            await client.app[WORKFLOW].run()
        health = await (await client.get("/healthz")).json()
        assert health["workflow"]["last_run"]["outcome"] == "error"
        assert "lock" in health["workflow"]["last_run"]["error"]
    finally:
        await release()

    client.app[WORKFLOW].chunk = 25  # the catch-up takes several transactions
    run = await client.app[WORKFLOW].run()  # records the failure, then catches up
    assert run.rows_read == rows("SELECT count(*) AS n FROM events")[0]["n"] > 100
    outcomes = [r["outcome"] for r in rows("SELECT outcome FROM workflow_runs ORDER BY id")]
    assert outcomes[-2:] == ["error", "ok"]
    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/ui/workflow")).text()
    failed = re.search(r'<tr class="error">(.*?)</tr>', page, re.S)
    assert failed is not None and "lock" in failed[1], "the dashboard shows it"
    assert await all_reports(client, auth) == live
    health = await (await client.get("/healthz")).json()
    assert health["workflow"]["last_run"]["outcome"] == "ok"
    assert health["workflow"]["warning"] is None

    clock.now += timedelta(hours=3)  # no successful run for more than twice the schedule
    health = await (await client.get("/healthz")).json()
    assert "older than 7200 s" in health["workflow"]["warning"]


async def test_a_backlog_starts_a_run_before_the_schedule(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy sender's reports read the events waiting for the workflow one by one: past
    ``workflow_backlog`` of them, a run starts without waiting for the hour."""
    monkeypatch.setattr(tracker.workflow, "BACKLOG_CHECK_SECONDS", 0.05)
    clock = Clock()
    client = await aiohttp_client(
        trusting_app(settings, clock, workflow_interval=3600, workflow_backlog=50)
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    await mail(client, clock, tokens, auth, start)  # the run at start found nothing
    clock.now = datetime.now(UTC)  # every event is settled now
    events = rows("SELECT count(*) AS n FROM events")[0]["n"]
    assert events > 50
    deadline = asyncio.get_running_loop().time() + 10
    store = client.app[WORKFLOW].store
    while not rows("SELECT id FROM workflow_runs WHERE rows_read > 0") or (
        await store.workflow_backlog() >= 50
    ):
        assert asyncio.get_running_loop().time() < deadline, "no run for the backlog"
        await asyncio.sleep(0.05)
    read = rows("SELECT sum(rows_read) AS n FROM workflow_runs")[0]["n"]
    assert events - 50 < read <= events, "runs until fewer than 50 wait, long before the hour"
