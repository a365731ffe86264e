"""Forgetting a person, and the end of raw hits' retention.

A forgotten person's hits, events and copies of deliveries are deleted. Only their
suppressions survive, under a keyed hash of their id, so a sender checking them later
still hears "not mailable" without anyone being able to tell who they were.
"""

from __future__ import annotations

from tracker.eventtypes import SUPPRESSING_SQL
from tracker.store import copies
from tracker.store.dialect import Tx
from tracker.store.units import PURGE_CHUNK, Forget, Forgotten, Purge


async def forget(tx: Tx, unit: Forget) -> Forgotten:
    """Erase the person; their suppressions stay under the keyed hash."""
    await tx.execute(
        "INSERT INTO forgotten (hash, type, at, category)"
        " SELECT ?, type, at, category FROM events WHERE recipient = ?"
        f" AND type IN ({SUPPRESSING_SQL}) ON CONFLICT DO NOTHING",
        (unit.hashed, unit.recipient),
    )
    hits = await tx.execute("DELETE FROM hits WHERE recipient = ?", (unit.recipient,))
    events = await tx.execute("DELETE FROM events WHERE recipient = ?", (unit.recipient,))
    # Unique clickers keep their numbers, not the names behind them.
    await tx.execute("DELETE FROM report_clickers WHERE recipient = ?", (unit.recipient,))
    await copies.drop(tx, unit.recipient)
    # Their consent goes too: who stated what is about them.
    await tx.execute("DELETE FROM consent WHERE recipient = ?", (unit.recipient,))
    await tx.execute("DELETE FROM consent_history WHERE recipient = ?", (unit.recipient,))
    await tx.execute("DELETE FROM untracked_messages WHERE recipient = ?", (unit.recipient,))
    return Forgotten(hits, events)


async def purge(tx: Tx, unit: Purge) -> int:
    """Delete raw hits before ``unit.before``: whole months at once where the database
    keeps them apart, then those among the oldest PURGE_CHUNK (ids follow time, so the
    read stays that small whatever the table's size); how many."""
    dropped = await tx.drop_hits_before(unit.before)
    return dropped + await tx.execute(
        "DELETE FROM hits WHERE id IN (SELECT id FROM"
        " (SELECT id, at FROM hits ORDER BY id LIMIT ?) AS oldest WHERE at < ?)",
        (PURGE_CHUNK, unit.before),
    )
