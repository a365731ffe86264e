"""The PostgreSQL store's upkeep: the tracking workflow, forgetting a person, retention.

The same units and rules as SQLite's (``sqlite_workflow``, ``sqlite_privacy``). The
consolidation statements are shared (``reports.consolidation``); unique clickers are
one statement here (a data-modifying WITH) instead of SQLite's temporary table. Past
retention, whole months of raw hits are dropped as partitions; only the month that
straddles the limit is deleted row by row, a chunk per transaction.
"""

from __future__ import annotations

from typing import Any

from tracker.eventtypes import SUPPRESSING_SQL
from tracker.store import copies
from tracker.store.pg_schema import partitions
from tracker.store.pg_sql import translate
from tracker.store.reports import consolidation
from tracker.store.units import (
    PURGE_CHUNK,
    REPORT_TABLES,
    WATERMARK,
    FailedRun,
    Forget,
    Purge,
    WorkflowRun,
)
from tracker.tokens import HONEYPOT_LINK

Conn = Any

_CONSOLIDATE = tuple(translate(sql, (0, 0))[0] for sql in consolidation("least", "greatest"))
_CLICKERS = f"""
WITH clicked AS (
    SELECT delivery, link, recipient,
           CASE WHEN coalesce(verdict, 'human') = 'human' THEN 1 ELSE 0 END AS class
    FROM events WHERE id > $1 AND id <= $2 AND type = 'clicked' AND link != {HONEYPOT_LINK}
), batch AS (
    SELECT delivery, link, class, recipient FROM clicked
    UNION SELECT delivery, -1, class, recipient FROM clicked
    UNION SELECT delivery, link, 2, recipient FROM clicked
    UNION SELECT delivery, -1, 2, recipient FROM clicked
), fresh AS (
    INSERT INTO report_clickers (delivery, link, class, recipient)
    SELECT delivery, link, class, recipient FROM batch
    ON CONFLICT DO NOTHING RETURNING delivery, link, class
)
INSERT INTO report_uniques (delivery, link, class, n)
SELECT delivery, link, class, count(*) FROM fresh GROUP BY 1, 2, 3
ON CONFLICT (delivery, link, class) DO UPDATE SET n = report_uniques.n + excluded.n
"""


def _count(status: str) -> int:
    """Rows a command reported (``INSERT 0 5`` -> 5)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def watermark(conn: Conn) -> int:
    value = await conn.fetchval("SELECT value FROM workflow_state WHERE name = $1", WATERMARK)
    return int(value or 0)


async def run(conn: Conn, unit: WorkflowRun) -> None:
    """One chunk of a run (see sqlite_workflow.run)."""
    start = await watermark(conn)
    if unit.settled_end is None:
        unsettled = await conn.fetchval(
            "SELECT min(id) FROM events WHERE id > $1 AND at >= $2", start, unit.settled_before
        )
        if unsettled is not None:
            unit.settled_end = int(unsettled) - 1
        else:
            unit.settled_end = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
    settled_end = unit.settled_end
    end = min(settled_end, start + unit.limit)
    unit.more = end < settled_end
    if end > start:
        unit.rows_read += await conn.fetchval(
            "SELECT count(*) FROM events WHERE id > $1 AND id <= $2", start, end
        )
        for sql in _CONSOLIDATE:
            unit.rows_written += _count(await conn.execute(sql, start, end))
        unit.rows_written += _count(await conn.execute(_CLICKERS, start, end))
        await conn.execute(
            "INSERT INTO workflow_state (name, value) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            WATERMARK,
            end,
        )
    unit.watermark = max(start, end)
    if unit.more:
        return
    unit.run_id = await conn.fetchval(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, rows_read, rows_written,"
        " expired, watermark, node) VALUES ($1, $2, 'ok', $3, $4, $5, $6, $7) RETURNING id",
        unit.started_at, unit.ended_at, unit.rows_read, unit.rows_written, unit.expired,
        unit.watermark, unit.node,
    )  # fmt: skip


async def record_failure(conn: Conn, unit: FailedRun) -> None:
    await conn.execute(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, error, node)"
        " VALUES ($1, $2, 'error', $3, $4)",
        unit.started_at,
        unit.ended_at,
        unit.error[:2000],
        unit.node,
    )


async def reset(conn: Conn) -> None:
    """Forget the consolidated counts: the next run rebuilds them (after a rescore)."""
    for table in REPORT_TABLES:
        await conn.execute(f"DELETE FROM {table}")
    await conn.execute("DELETE FROM workflow_state WHERE name = $1", WATERMARK)


async def forget(conn: Conn, unit: Forget) -> None:
    """Erase the person; their suppressions stay under the keyed hash."""
    await conn.execute(
        "INSERT INTO forgotten (hash, type, at, category)"
        " SELECT $1, type, at, category FROM events WHERE recipient = $2"
        f" AND type IN ({SUPPRESSING_SQL}) ON CONFLICT DO NOTHING",
        unit.hashed,
        unit.recipient,
    )
    unit.hits = _count(await conn.execute("DELETE FROM hits WHERE recipient = $1", unit.recipient))
    unit.events = _count(
        await conn.execute("DELETE FROM events WHERE recipient = $1", unit.recipient)
    )
    await conn.execute("DELETE FROM report_clickers WHERE recipient = $1", unit.recipient)
    await copies.pg_drop(conn, unit.recipient)


async def purge(conn: Conn, unit: Purge) -> None:
    """Drop the months wholly before ``before``, then delete a chunk of the rest."""
    month = unit.before[:7]
    for name, start in await partitions(conn):
        if start < month:  # the whole month lies before the limit
            unit.deleted += await conn.fetchval(f"SELECT count(*) FROM {name}")
            await conn.execute(f"DROP TABLE {name}")
    unit.deleted += _count(
        await conn.execute(
            "DELETE FROM hits WHERE id IN (SELECT id FROM hits WHERE at < $1"
            " ORDER BY id LIMIT $2) AND at < $1",
            unit.before,
            PURGE_CHUNK,
        )
    )
