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
from dataclasses import dataclass

from tracker.tokens import HONEYPOT_LINK

WATERMARK = "events"

# Expressions the consolidation and the reports' live tail share, so both group an event
# alike (``e`` the event, ``h`` its hit; link -1: no link).
AFTER_WATERMARK = f"(SELECT coalesce(max(value), 0) FROM workflow_state WHERE name = '{WATERMARK}')"
VERDICT = "coalesce(e.verdict, 'human')"
HOUR = "substr(e.at, 1, 13) || ':00:00Z'"
NOT_TRAP = f"coalesce(e.link, -1) != {HONEYPOT_LINK}"
CLIENT_DEVICE = "coalesce(h.client, 'Other'), coalesce(h.device, 'unknown')"

# Each report table takes the range's events grouped its own way.
_RANGE = "FROM events AS e WHERE e.id > ? AND e.id <= ?"
_JUDGED = "AND e.type IN ('opened', 'clicked')"
_CONSOLIDATE = (
    f"""INSERT INTO report_totals (delivery, type, verdict, n, first_at, last_at)
    SELECT e.delivery, e.type, {VERDICT}, count(*), min(e.at), max(e.at) {_RANGE}
    GROUP BY 1, 2, 3 ON CONFLICT (delivery, type, verdict) DO UPDATE SET
    n = n + excluded.n, first_at = min(first_at, excluded.first_at),
    last_at = max(last_at, excluded.last_at)""",
    f"""INSERT INTO report_links (delivery, link, verdict, n)
    SELECT e.delivery, e.link, {VERDICT}, count(*) {_RANGE} AND e.type = 'clicked'
    GROUP BY 1, 2, 3 ON CONFLICT (delivery, link, verdict) DO UPDATE SET n = n + excluded.n""",
    f"""INSERT INTO report_hours (delivery, hour, type, verdict, n)
    SELECT e.delivery, {HOUR}, e.type, {VERDICT}, count(*)
    {_RANGE} {_JUDGED} AND {NOT_TRAP} GROUP BY 1, 2, 3, 4
    ON CONFLICT (delivery, hour, type, verdict) DO UPDATE SET n = n + excluded.n""",
    f"""INSERT INTO report_clients (delivery, client, device, type, verdict, n)
    SELECT e.delivery, {CLIENT_DEVICE}, e.type, {VERDICT}, count(*)
    FROM events AS e LEFT JOIN hits AS h ON h.id = e.hit_id
    WHERE e.id > ? AND e.id <= ? {_JUDGED} AND {NOT_TRAP}
    GROUP BY 1, 2, 3, 4, 5 ON CONFLICT (delivery, client, device, type, verdict)
    DO UPDATE SET n = n + excluded.n""",
)
REPORT_TABLES = ("report_totals", "report_links", "report_hours", "report_clients",
                 "report_clickers", "report_uniques")  # fmt: skip

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


@dataclass
class WorkflowRun:
    """A unit of the writer: one run; the figures are filled in."""

    started_at: str
    ended_at: str
    node: str
    # Events after this time wait for the next run: a later hit may still turn them to
    # bot (the proximity and honeypot windows).
    settled_before: str
    expired: int = 0  # raw hits deleted past retention just before
    # Events per transaction: tracking writes wait for one chunk at most, never a run.
    limit: int = 20_000
    more: bool = False  # out: another chunk is due (the same unit is written again)
    settled_end: int | None = None  # the last settled event's id, found by the first chunk
    rows_read: int = 0  # totals over the run's chunks
    rows_written: int = 0
    watermark: int = 0
    run_id: int = 0


@dataclass
class FailedRun:
    """A unit of the writer: record a run that could not complete."""

    started_at: str
    ended_at: str
    error: str
    node: str


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
