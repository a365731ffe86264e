"""Forgetting a person, and the end of raw hits' retention (writes on the writer thread).

A forgotten person's hits and events are deleted (SQLite's ``secure_delete`` zeroes
what they held). Only their suppressions survive, under a keyed hash of their id, so a
sender checking them later still hears "not mailable" without anyone being able to tell
who they were.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from dataclasses import dataclass

CHUNK = 5000


def person_hash(key: str, recipient: str) -> str:
    """The keyed hash that stands for a forgotten recipient."""
    return hmac.new(key.encode(), recipient.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Forget:
    """A unit of the writer: erase ``recipient``; the counts are filled in."""

    recipient: str
    hashed: str
    hits: int = 0
    events: int = 0


@dataclass
class Purge:
    """A unit of the writer: delete up to CHUNK raw hits older than ``before``."""

    before: str
    deleted: int = 0


def forget(conn: sqlite3.Connection, unit: Forget) -> None:
    kept = conn.execute(
        "SELECT type, at, category FROM events WHERE recipient = ?"
        " AND type IN ('unsubscribed', 'hard_bounced')",
        (unit.recipient,),
    ).fetchall()
    conn.executemany(
        "INSERT OR IGNORE INTO forgotten (hash, type, at, category) VALUES (?,?,?,?)",
        [(unit.hashed, *row) for row in kept],
    )
    unit.hits = conn.execute("DELETE FROM hits WHERE recipient = ?", (unit.recipient,)).rowcount
    unit.events = conn.execute("DELETE FROM events WHERE recipient = ?", (unit.recipient,)).rowcount


def purge(conn: sqlite3.Connection, unit: Purge) -> None:
    """The oldest hits first (ids follow time), one chunk per transaction."""
    ids = [
        hit_id
        for hit_id, at in conn.execute("SELECT id, at FROM hits ORDER BY id LIMIT ?", (CHUNK,))
        if at < unit.before
    ]
    conn.executemany("DELETE FROM hits WHERE id = ?", [(i,) for i in ids])
    unit.deleted = len(ids)
