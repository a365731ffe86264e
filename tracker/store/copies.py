"""Each recipient's copy of a delivery, for "view in browser", in both stores.

``decorate`` registers the HTML it decorated for the recipients it decorated it for:
``recipient_copies`` names, per (delivery, recipient), the copy in ``copies`` (keyed by
its SHA-256), so a template decorated for many people is stored once and a personalised
one once per person. A view link shows its own recipient's copy only, and forgetting a
person drops their rows and every copy nobody else is left with.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from tracker.events import iso_now
from tracker.store.base import DeliveryTemplate
from tracker.store.pg_schema import lock_key

# Ids per IN (...) list: well under SQLite's limit on bound parameters.
CHUNK = 500

_UPSERT = " ON CONFLICT (delivery, recipient) DO UPDATE SET hash = excluded.hash, at = excluded.at"


def digest(html: str) -> str:
    """A copy's fingerprint: its key in ``copies`` and in the view cache."""
    return hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()


def keep(conn: sqlite3.Connection, t: DeliveryTemplate) -> None:
    """Store ``t.html`` as the copy of each of ``t.recipients`` (SQLite)."""
    key, at = digest(t.html), t.registered_at or iso_now()
    recipients = list(dict.fromkeys(t.recipients))
    replaced: set[str] = set()
    for i in range(0, len(recipients), CHUNK):
        chunk = recipients[i : i + CHUNK]
        marks = ",".join("?" * len(chunk))
        replaced.update(
            row[0]
            for row in conn.execute(
                "SELECT hash FROM recipient_copies WHERE delivery = ?"
                f" AND recipient IN ({marks}) AND hash != ?",
                [t.delivery, *chunk, key],
            )
        )
    conn.execute("INSERT OR IGNORE INTO copies (hash, html) VALUES (?, ?)", (key, t.html))
    conn.executemany(
        "INSERT INTO recipient_copies (delivery, recipient, hash, at) VALUES (?,?,?,?)" + _UPSERT,
        [(t.delivery, r, key, at) for r in recipients],
    )
    _drop_unused(conn, replaced)


def drop(conn: sqlite3.Connection, recipient: str) -> None:
    """Forget ``recipient``'s copies (SQLite)."""
    hashes = {
        row[0]
        for row in conn.execute(
            "SELECT hash FROM recipient_copies WHERE recipient = ?", (recipient,)
        )
    }
    conn.execute("DELETE FROM recipient_copies WHERE recipient = ?", (recipient,))
    _drop_unused(conn, hashes)


def _drop_unused(conn: sqlite3.Connection, hashes: set[str]) -> None:
    conn.executemany(
        "DELETE FROM copies WHERE hash = ?"
        " AND NOT EXISTS (SELECT 1 FROM recipient_copies WHERE hash = ?)",
        [(h, h) for h in hashes],
    )


async def pg_keep(conn: Any, t: DeliveryTemplate) -> None:
    """``keep`` on PostgreSQL, one writer of copies at a time: another node's forget
    cannot drop a copy this transaction is about to name."""
    key, at = digest(t.html), t.registered_at or iso_now()
    recipients = list(dict.fromkeys(t.recipients))
    await conn.execute(f"SELECT pg_advisory_xact_lock({lock_key('copies')})")
    replaced = [
        row["hash"]
        for row in await conn.fetch(
            "SELECT DISTINCT hash FROM recipient_copies WHERE delivery = $1"
            " AND recipient = ANY($2::text[]) AND hash <> $3",
            t.delivery,
            recipients,
            key,
        )
    ]
    await conn.execute(
        "INSERT INTO copies (hash, html) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, t.html
    )
    await conn.execute(
        "INSERT INTO recipient_copies (delivery, recipient, hash, at)"
        " SELECT $1, r, $2, $3 FROM unnest($4::text[]) AS r" + _UPSERT,
        t.delivery,
        key,
        at,
        recipients,
    )
    await _pg_drop_unused(conn, replaced)


async def pg_drop(conn: Any, recipient: str) -> None:
    """``drop`` on PostgreSQL."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({lock_key('copies')})")
    rows = await conn.fetch(
        "DELETE FROM recipient_copies WHERE recipient = $1 RETURNING hash", recipient
    )
    await _pg_drop_unused(conn, list({row["hash"] for row in rows}))


async def _pg_drop_unused(conn: Any, hashes: list[str]) -> None:
    if hashes:
        await conn.execute(
            "DELETE FROM copies WHERE hash = ANY($1::text[]) AND NOT EXISTS"
            " (SELECT 1 FROM recipient_copies AS v WHERE v.hash = copies.hash)",
            hashes,
        )
