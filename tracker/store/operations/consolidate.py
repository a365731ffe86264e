"""The tracking workflow's writes: consolidate the activity log into report tables.

A run is a few transactions, each taking the next chunk of events after the watermark:
it adds them to the report tables (totals, links, hours, mail clients and devices,
unique clickers) and moves the watermark; the last one records the run. Two nodes or a
CLI run beside a server take turns on the write lock, and each starts from the
watermark the other left: nothing is counted twice. Reports read the tables plus the
events after the watermark, so they are current between runs.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from tracker.store.dialect import Dialect, Tx
from tracker.store.reports import consolidation
from tracker.store.units import REPORT_TABLES, WATERMARK, FailedRun, WorkflowRun
from tracker.tokens import HONEYPOT_LINK

# Each Clicked of the range, as (delivery, link, class, recipient) for its link and for
# any link (-1), in its own class (1 people, 0 machines) and in both (2).
_BATCH = f"""
WITH clicked AS (
    SELECT delivery, link, recipient,
           CASE WHEN coalesce(verdict, 'human') = 'human' THEN 1 ELSE 0 END AS class
    FROM events WHERE id > ? AND id <= ? AND type = 'clicked' AND link != {HONEYPOT_LINK}
), batch AS (
    SELECT delivery, link, class, recipient FROM clicked
    UNION SELECT delivery, -1, class, recipient FROM clicked
    UNION SELECT delivery, link, 2, recipient FROM clicked
    UNION SELECT delivery, -1, 2, recipient FROM clicked
)"""
# The clickers not counted yet add to the unique counts; then they are counted.
_NEW_UNIQUES = f"""{_BATCH}
INSERT INTO report_uniques (delivery, link, class, n)
SELECT b.delivery, b.link, b.class, count(*) FROM batch AS b
WHERE NOT EXISTS (SELECT 1 FROM report_clickers AS c WHERE c.delivery = b.delivery
                  AND c.link = b.link AND c.class = b.class AND c.recipient = b.recipient)
GROUP BY 1, 2, 3
ON CONFLICT (delivery, link, class) DO UPDATE SET n = report_uniques.n + excluded.n
"""
_NEW_CLICKERS = f"""{_BATCH}
INSERT INTO report_clickers (delivery, link, class, recipient)
SELECT delivery, link, class, recipient FROM batch WHERE true ON CONFLICT DO NOTHING
"""


@lru_cache(maxsize=4)
def _consolidation(dialect: Dialect) -> tuple[str, ...]:
    return consolidation(dialect.least, dialect.greatest)


async def watermark(tx: Tx) -> int:
    value = await tx.fetchval("SELECT value FROM workflow_state WHERE name = ?", (WATERMARK,))
    return int(value or 0)


async def run(tx: Tx, unit: WorkflowRun) -> WorkflowRun:
    """One chunk of a run: the unit as it stands after it (``more``: another is due)."""
    start = await watermark(tx)
    settled_end = unit.settled_end
    if settled_end is None:  # found once per run: it scans the events after start
        unsettled = await tx.fetchval(
            "SELECT min(id) FROM events WHERE id > ? AND at >= ?", (start, unit.settled_before)
        )
        if unsettled is not None:
            settled_end = int(unsettled) - 1
        else:
            settled_end = int(await tx.fetchval("SELECT coalesce(max(id), 0) FROM events"))
    end = min(settled_end, start + unit.limit)
    more = end < settled_end
    rows_read, rows_written = unit.rows_read, unit.rows_written
    if end > start:
        span = (start, end)
        rows_read += int(
            await tx.fetchval("SELECT count(*) FROM events WHERE id > ? AND id <= ?", span)
        )
        for sql in _consolidation(tx.dialect):
            rows_written += await tx.execute(sql, span)
        rows_written += await tx.execute(_NEW_UNIQUES, span)
        await tx.execute(_NEW_CLICKERS, span)
        await tx.execute(
            "INSERT INTO workflow_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (WATERMARK, end),
        )
    done = replace(
        unit,
        settled_end=settled_end,
        more=more,
        rows_read=rows_read,
        rows_written=rows_written,
        watermark=max(start, end),
    )
    if more:
        return done
    run_id = await tx.fetchval(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, rows_read, rows_written,"
        " expired, watermark, node) VALUES (?, ?, 'ok', ?, ?, ?, ?, ?) RETURNING id",
        (done.started_at, done.ended_at, done.rows_read, done.rows_written, done.expired,
         done.watermark, done.node),
    )  # fmt: skip
    return replace(done, run_id=int(run_id))


async def record_failure(tx: Tx, unit: FailedRun) -> None:
    await tx.execute(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, error, node)"
        " VALUES (?, ?, 'error', ?, ?)",
        (unit.started_at, unit.ended_at, unit.error[:2000], unit.node),
    )


async def reset(tx: Tx) -> None:
    """Forget the consolidated counts: the next run rebuilds them (after a rescore)."""
    for table in REPORT_TABLES:
        await tx.execute(f"DELETE FROM {table}")
    await tx.execute("DELETE FROM workflow_state WHERE name = ?", (WATERMARK,))
