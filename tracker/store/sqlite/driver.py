"""SQLite's ``Tx``: the writer thread's connection, inside the group's transaction.

Its methods are coroutines that never wait (``dialect.run_now`` runs an operation on the
writer thread to its end). Rows bind one value per placeholder, many rows with
``executemany``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from tracker.events import Hit
from tracker.store.dialect import SQLITE, insert_sql, update_sql
from tracker.store.recent import RecentClicks


class SQLiteTx:
    """An open transaction on the writer's connection."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection, recent: RecentClicks | None = None) -> None:
        self.conn = conn
        self.recent = recent

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self.conn.execute(sql, params).fetchall()

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    async def insert(
        self, table: str, rows: Sequence[NamedTuple], tail: str = "", nullable: tuple[str, ...] = ()
    ) -> int:
        if not rows:
            return 0
        sql = insert_sql(SQLITE, table, rows[0]._fields, tail, nullable)
        return self.conn.executemany(sql, rows).rowcount

    async def update(
        self, table: str, rows: Sequence[NamedTuple], keys: tuple[str, ...], where: str = ""
    ) -> None:
        if rows:
            sql = update_sql(SQLITE, table, rows[0]._fields, keys, where)
            self.conn.executemany(sql, [row._asdict() for row in rows])

    async def hit_ids(self, count: int) -> list[int]:
        # The transaction holds the write lock (BEGIN IMMEDIATE): nobody takes these meanwhile.
        first = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM hits").fetchone()[0]
        return list(range(first, first + count))

    async def prepare_hits(self, hits: Sequence[Hit]) -> None:
        """One table holds every hit."""

    async def serialize(self, name: str) -> None:
        """SQLite has one writer at a time already."""

    async def drop_hits_before(self, before: str) -> int:
        """No partitions: hits go a chunk at a time."""
        return 0
