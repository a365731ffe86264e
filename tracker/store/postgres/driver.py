"""PostgreSQL's ``Tx``: the writer's asyncpg connection, inside the group's transaction.

SQL comes in SQLite's spelling and is translated (``sql.translate``); many rows go as one
array per column (``unnest``), so a group is a handful of round trips whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import asyncpg

from tracker.events import Hit
from tracker.store.dialect import POSTGRES, columns, insert_sql, update_sql
from tracker.store.postgres.schema import ensure_partitions, lock_key, partitions
from tracker.store.postgres.sql import translate
from tracker.store.recent import RecentClicks


def changed(status: str) -> int:
    """Rows a command reported (``INSERT 0 5`` -> 5)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTx:
    """An open transaction on the writer's connection.

    ``months``: the months whose partitions exist, as this node knows them; the months
    this transaction makes are in ``made`` (known only once it commits), and ``dropped``
    says that some were dropped (then none is known any more).
    """

    dialect = POSTGRES
    recent: RecentClicks | None = None  # several nodes write: read the database each time

    def __init__(self, conn: asyncpg.Connection, months: set[str]) -> None:
        self.conn = conn
        self.months = months
        self.made: set[str] = set()
        self.dropped = False

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        text, args = translate(sql, params)
        return changed(await self.conn.execute(text, *args))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        text, args = translate(sql, params)
        return list(await self.conn.fetch(text, *args))

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        text, args = translate(sql, params)
        return await self.conn.fetchval(text, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            text, _ = translate(sql, rows[0])
            await self.conn.executemany(text, rows)

    async def insert(
        self, table: str, rows: Sequence[NamedTuple], tail: str = "", nullable: tuple[str, ...] = ()
    ) -> int:
        """``nullable`` changes nothing here: PostgreSQL's null is None."""
        if not rows:
            return 0
        fields = rows[0]._fields
        return await self.execute(
            insert_sql(POSTGRES, table, fields, tail), columns(rows, len(fields))
        )

    async def update(
        self, table: str, rows: Sequence[NamedTuple], keys: tuple[str, ...], where: str = ""
    ) -> None:
        if rows:
            fields = rows[0]._fields
            sql = update_sql(POSTGRES, table, fields, keys, where)
            await self.execute(sql, columns(rows, len(fields)))

    async def hit_ids(self, count: int) -> list[int]:
        rows = await self.conn.fetch(
            "SELECT nextval('hits_id_seq') FROM generate_series(1, $1)", count
        )
        return [row[0] for row in rows]

    async def prepare_hits(self, hits: Sequence[Hit]) -> None:
        months = {hit.at[:7] for hit in hits} - self.months - self.made
        if months:
            await ensure_partitions(self.conn, months)
            self.made |= months

    async def serialize(self, name: str) -> None:
        await self.conn.execute(f"SELECT pg_advisory_xact_lock({lock_key(name)})")

    async def drop_hits_before(self, before: str) -> int:
        """Drop the months wholly before ``before``: what they held."""
        dropped = 0
        for name, start in await partitions(self.conn):
            if start < before[:7]:
                dropped += await self.conn.fetchval(f"SELECT count(*) FROM {name}")
                await self.conn.execute(f"DROP TABLE {name}")
                self.dropped = True
        return dropped
