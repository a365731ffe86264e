"""Forgetting a person, and the end of raw hits' retention (writes on the writer thread).

A forgotten person's hits, events and copies of deliveries are deleted (SQLite's
``secure_delete`` zeroes what they held). Only their suppressions survive, under a keyed
hash of their id, so a sender checking them later still hears "not mailable" without
anyone being able to tell who they were.
"""

from __future__ import annotations

import sqlite3

from tracker.eventtypes import SUPPRESSING_SQL
from tracker.store import copies
from tracker.store.units import PURGE_CHUNK, Forget, Purge


def forget(conn: sqlite3.Connection, unit: Forget) -> None:
    kept = conn.execute(
        "SELECT type, at, category FROM events WHERE recipient = ?"
        f" AND type IN ({SUPPRESSING_SQL})",
        (unit.recipient,),
    ).fetchall()
    conn.executemany(
        "INSERT OR IGNORE INTO forgotten (hash, type, at, category) VALUES (?,?,?,?)",
        [(unit.hashed, *row) for row in kept],
    )
    unit.hits = conn.execute("DELETE FROM hits WHERE recipient = ?", (unit.recipient,)).rowcount
    unit.events = conn.execute("DELETE FROM events WHERE recipient = ?", (unit.recipient,)).rowcount
    # Unique clickers keep their numbers, not the names behind them.
    conn.execute("DELETE FROM report_clickers WHERE recipient = ?", (unit.recipient,))
    copies.drop(conn, unit.recipient)


def purge(conn: sqlite3.Connection, unit: Purge) -> None:
    """The oldest hits first (ids follow time), one chunk per transaction."""
    oldest = conn.execute("SELECT id, at FROM hits ORDER BY id LIMIT ?", (PURGE_CHUNK,))
    ids = [hit_id for hit_id, at in oldest if at < unit.before]
    conn.executemany("DELETE FROM hits WHERE id = ?", [(i,) for i in ids])
    unit.deleted = len(ids)
