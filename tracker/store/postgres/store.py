"""The PostgreSQL store, for several nodes sharing one database (asyncpg).

Each node commits in groups as the SQLite store does (``GroupWriter``): one connection
writes, a small pool reads. Every write transaction first takes one advisory lock, so
writes from all nodes commit one at a time, as on SQLite: ids are then given in commit
order, and a reader resuming after an id (webhooks, the workflow's watermark) never
misses a later commit; a hit's verdict sees every hit committed before it by any node.
The dedupe rules are unique keys, so they hold whatever the lock.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from tracker import metrics
from tracker.store.base import StoreUnavailable
from tracker.store.operations import apply
from tracker.store.postgres.driver import PostgresTx
from tracker.store.postgres.schema import lock_key, migrate
from tracker.store.postgres.sql import plain, translate
from tracker.store.reads import Reads
from tracker.store.scoring import Scoring
from tracker.store.sessions import SessionRecords
from tracker.store.writer import GroupWriter, WriterClosed
from tracker.store.writes import Unit, Writes, with_retries

# What a lost or refused connection raises: the write is retried on a new connection.
LOST = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # the server ended the session (failover)
)
RETRIED = (
    *LOST,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,  # another writer held the lock past lock_timeout
)
FAILED = (*RETRIED, asyncpg.PostgresError, WriterClosed)


class PostgresStore(Reads, Writes, SessionRecords):
    """Hits and events in PostgreSQL; see tracker.store.base.Store."""

    def __init__(
        self,
        url: str,
        max_group: int = 2048,
        scoring: Scoring | None = None,
        forget_key: str = "",
        pool_size: int = 4,
        lock_timeout_ms: int = 5000,
    ) -> None:
        from tracker.config import Settings

        self.url = url
        self._forget_key = forget_key
        self._scoring = scoring or Scoring.for_settings(Settings())
        self._pool_size = pool_size
        # How long a write waits for the write lock (another node's transaction).
        self._lock_timeout = {"lock_timeout": f"{int(lock_timeout_ms)}ms"}
        self._pool: asyncpg.Pool | None = None
        self._conn: asyncpg.Connection | None = None
        self._months: set[str] = set()
        self._writer: GroupWriter[Unit, Any] = GroupWriter(self._commit, max_group)

    # Lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size)
        self._writer.start()

    async def close(self) -> None:
        """Commit everything queued, then close the connections."""
        await self._writer.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
        if self._pool is not None:
            await self._pool.close()

    @property
    def queue_depth(self) -> int:
        return self._writer.depth

    # Writes ------------------------------------------------------------------------

    async def _write(self, unit: Unit) -> Any:
        try:
            return await self._writer.write(unit)
        except FAILED as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc

    async def _commit(self, units: list[Unit]) -> list[Any]:
        metrics.QUEUE_DEPTH.set(self._writer.depth)
        return await with_retries(lambda: self._attempt(units), RETRIED)

    async def _attempt(self, units: list[Unit]) -> list[Any]:
        """One transaction for the group, on the writer's connection (made again if lost)."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.url, server_settings=self._lock_timeout)
            tx = PostgresTx(self._conn, self._months)
            async with self._conn.transaction():
                await self._conn.execute(f"SELECT pg_advisory_xact_lock({lock_key('writes')})")
                results = await apply(tx, units, self._scoring)
        except LOST:
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            raise
        # Partitions made or dropped are known only once committed (DDL rolls back too).
        if tx.dropped:
            self._months.clear()  # a dropped month is created again when written
        self._months |= tx.made
        return results

    # Reads (the queries are tracker.store.reads') ----------------------------------

    async def _rows(self, sql: str, params: Any) -> list[Any]:
        assert self._pool is not None
        text, args = translate(sql, params)
        try:
            return [plain(row) for row in await self._pool.fetch(text, *args)]
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
