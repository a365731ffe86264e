"""The embedded SQLite store: WAL, one writer thread with group commit, reads via aiosqlite."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiosqlite

from tracker import metrics
from tracker.config import Settings
from tracker.filemodes import create_private
from tracker.store.base import StoreUnavailable
from tracker.store.dialect import run_now
from tracker.store.operations import apply, changes_kept
from tracker.store.reads import Reads
from tracker.store.recent import recent_clicks
from tracker.store.scoring import Scoring
from tracker.store.sessions import SessionRecords
from tracker.store.sqlite.driver import SQLiteTx
from tracker.store.sqlite.schema import migrate
from tracker.store.writer import GroupWriter, WriterClosed
from tracker.store.writes import Unit, Writes, with_retries

BUSY_TIMEOUT_MS = 5000
# Fault injection, for the reliability suite only (python -m reliability): with
# TRACKER_FAULT_RATE=0.01 set, 1 % of write transactions fail at random with SQLite's
# "disk I/O error" or "database is locked", before or inside the transaction. Unset (the
# default) it is never consulted.
FAULTS = ("disk I/O error", "database is locked")


def fault_rate_from_env() -> float:
    return float(os.environ.get("TRACKER_FAULT_RATE") or 0)


def connect(
    path: Path, synchronous: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL on."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    _switch_to_wal(conn, busy_timeout_ms)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    # What is deleted (a forgotten person, expired hits) is overwritten, not left in pages.
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Turn WAL on, waiting as a write would for another process opening the file too.

    On a new file the switch needs SQLite's exclusive lock and does not wait for it: a
    second process starting at that moment gets "database is locked" (or the old mode
    back). It is tried again, with a short random pause, until ``busy_timeout_ms``.
    """
    deadline = time.monotonic() + max(busy_timeout_ms, 1000) / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            problem = f"journal mode stayed {mode}"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            problem = str(exc)
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"cannot switch to WAL: {problem}")
        time.sleep(0.005 + random.random() * 0.02)


class SQLiteStore(Reads, Writes, SessionRecords):
    """Hits and events in one SQLite file; see tracker.store.base.Store."""

    def __init__(
        self,
        path: Path,
        synchronous: str = "NORMAL",
        max_group: int = 2048,
        scoring: Scoring | None = None,
        forget_key: str = "",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        fault_rate: float | None = None,
        recent: bool = True,
    ) -> None:
        self.path = path
        self._fault_rate = fault_rate_from_env() if fault_rate is None else fault_rate
        self._busy_timeout_ms = busy_timeout_ms
        self._forget_key = forget_key
        self._scoring = scoring or Scoring.for_settings(Settings())
        self._synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._writer: GroupWriter[Unit, Any] = GroupWriter(self._commit, max_group)
        self._recent = recent_clicks(self._scoring) if recent else None

    # Lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)  # its WAL and shared memory files take its mode
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._thread, self._open_writer)
        self._reader = await aiosqlite.connect(self.path)
        await self._reader.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        await self._reader.execute("PRAGMA query_only = 1")
        self._reader.row_factory = aiosqlite.Row
        self._writer.start()

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path, self._synchronous, self._busy_timeout_ms)
        migrate(conn)
        return conn

    async def close(self) -> None:
        """Commit everything queued, then close both connections."""
        await self._writer.close()
        if self._reader is not None:
            await self._reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)

    @property
    def queue_depth(self) -> int:
        return self._writer.depth

    # Writes ------------------------------------------------------------------------

    async def _after_forget(self) -> None:
        """The WAL is checkpointed and truncated, so the deleted pages do not linger in it."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._truncate_wal)

    def _truncate_wal(self) -> None:
        assert self._conn is not None
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _write(self, unit: Unit) -> Any:
        try:
            return await self._writer.write(unit)
        except (sqlite3.Error, WriterClosed) as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def _commit(self, units: list[Unit]) -> list[Any]:
        loop = asyncio.get_running_loop()
        metrics.QUEUE_DEPTH.set(self._writer.depth)

        async def attempt() -> list[Any]:
            return await loop.run_in_executor(self._thread, self._apply, units)

        return await with_retries(attempt, (sqlite3.OperationalError,))

    def _apply(self, units: list[Unit]) -> list[Any]:
        """Write one group in one transaction (runs on the writer thread)."""
        conn = self._conn
        assert conn is not None
        fault = self._injected_fault()
        if fault is not None and fault[1]:
            raise sqlite3.OperationalError(fault[0])
        recent = self._recent
        conn.execute("BEGIN IMMEDIATE")
        try:
            if recent is not None:
                recent.begin(conn.execute("PRAGMA data_version").fetchone()[0])
                if any(changes_kept(unit) for unit in units):
                    recent.stale()
            results = run_now(apply(SQLiteTx(conn, recent), units, self._scoring))
            if fault is not None:
                raise sqlite3.OperationalError(fault[0])
            conn.execute("COMMIT")
        except BaseException:
            if recent is not None:
                recent.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if recent is not None:
            recent.committed()
        return results

    def _injected_fault(self) -> tuple[str, bool] | None:
        """None, or (with TRACKER_FAULT_RATE) a fault: its message, and if before BEGIN."""
        if not self._fault_rate or random.random() >= self._fault_rate:
            return None
        return random.choice(FAULTS), random.random() < 0.5

    # Reads (the queries are tracker.store.reads') ----------------------------------

    async def _rows(self, sql: str, params: Any) -> list[Any]:
        assert self._reader is not None
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())
