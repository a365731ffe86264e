"""The tracking workflow's writes: consolidate the activity log into report tables.

A run is a few transactions (``BEGIN IMMEDIATE``), each taking the next chunk of events
after the watermark: it adds them to the report tables (totals, links, hours, mail
clients and devices, unique clickers) and moves the watermark; the last one records the
run. Raw hits past retention are deleted just before, a chunk per transaction too. Two
nodes or a CLI run beside a server take turns on SQLite's write lock, and each starts
from the watermark the other left: nothing is counted twice. Reports read the tables
plus the events after the watermark, so they are current between runs.
"""

from __future__ import annotations

import sqlite3

from tracker.store.reports import consolidation
from tracker.store.units import REPORT_TABLES, WATERMARK, FailedRun, WorkflowRun
from tracker.tokens import HONEYPOT_LINK

_CONSOLIDATE = consolidation()

# Each Clicked of the range, as (delivery, link, class, recipient) for its link and for
# any link (-1), in its own class (1 people, 0 machines) and in both (2).
_CLICKERS = f"""
CREATE TEMP TABLE batch AS
WITH clicked AS (
    SELECT delivery, link, recipient,
           CASE WHEN coalesce(verdict, 'human') = 'human' THEN 1 ELSE 0 END AS class
    FROM events WHERE id > ? AND id <= ? AND type = 'clicked' AND link != {HONEYPOT_LINK}
)
SELECT delivery, link, class, recipient FROM clicked
UNION SELECT delivery, -1, class, recipient FROM clicked
UNION SELECT delivery, link, 2, recipient FROM clicked
UNION SELECT delivery, -1, 2, recipient FROM clicked
"""
_NEW_UNIQUES = """
INSERT INTO report_uniques (delivery, link, class, n)
SELECT b.delivery, b.link, b.class, count(*) FROM temp.batch AS b
WHERE NOT EXISTS (SELECT 1 FROM report_clickers AS c WHERE c.delivery = b.delivery
                  AND c.link = b.link AND c.class = b.class AND c.recipient = b.recipient)
GROUP BY 1, 2, 3
ON CONFLICT (delivery, link, class) DO UPDATE SET n = n + excluded.n
"""


def watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM workflow_state WHERE name = ?", (WATERMARK,)).fetchone()
    return int(row[0]) if row else 0


def run(conn: sqlite3.Connection, unit: WorkflowRun) -> None:
    start = watermark(conn)
    if unit.settled_end is None:  # found once per run: it scans the events after start
        unsettled = conn.execute(
            "SELECT min(id) FROM events WHERE id > ? AND at >= ?", (start, unit.settled_before)
        ).fetchone()[0]
        if unsettled is not None:
            unit.settled_end = unsettled - 1
        else:
            unit.settled_end = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    settled_end = unit.settled_end
    end = min(settled_end, start + unit.limit)
    unit.more = end < settled_end
    if end > start:
        unit.rows_read += conn.execute(
            "SELECT count(*) FROM events WHERE id > ? AND id <= ?", (start, end)
        ).fetchone()[0]
        unit.rows_written += sum(conn.execute(sql, (start, end)).rowcount for sql in _CONSOLIDATE)
        conn.execute(_CLICKERS, (start, end))
        try:
            unit.rows_written += conn.execute(_NEW_UNIQUES).rowcount
            conn.execute("INSERT OR IGNORE INTO report_clickers SELECT * FROM temp.batch")
        finally:
            conn.execute("DROP TABLE temp.batch")
        conn.execute(
            "INSERT INTO workflow_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (WATERMARK, end),
        )
    unit.watermark = max(start, end)
    if unit.more:
        return
    unit.run_id = conn.execute(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, rows_read, rows_written,"
        " expired, watermark, node) VALUES (?,?,'ok',?,?,?,?,?)",
        (unit.started_at, unit.ended_at, unit.rows_read, unit.rows_written, unit.expired,
         unit.watermark, unit.node),
    ).lastrowid or 0  # fmt: skip


def record_failure(conn: sqlite3.Connection, unit: FailedRun) -> None:
    conn.execute(
        "INSERT INTO workflow_runs (started_at, ended_at, outcome, error, node)"
        " VALUES (?,?,'error',?,?)",
        (unit.started_at, unit.ended_at, unit.error[:2000], unit.node),
    )


def reset(conn: sqlite3.Connection) -> None:
    """Forget the consolidated counts: the next run rebuilds them (after a rescore)."""
    for table in REPORT_TABLES:
        conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM workflow_state WHERE name = ?", (WATERMARK,))
