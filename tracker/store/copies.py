"""Each recipient's copy of a delivery, for "view in browser", in both stores.

``decorate`` registers the HTML it decorated for the recipients it decorated it for:
``recipient_copies`` names, per (delivery, recipient), the copy in ``copies`` (keyed by
its SHA-256), so a template decorated for many people is stored once and a personalised
one once per person. A view link shows its own recipient's copy only, and forgetting a
person drops their rows and every copy nobody else is left with.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from tracker.events import iso_now
from tracker.store.base import DeliveryTemplate
from tracker.store.dialect import Tx

_UPSERT = "ON CONFLICT (delivery, recipient) DO UPDATE SET hash = excluded.hash, at = excluded.at"


class _RecipientCopy(NamedTuple):
    delivery: str
    recipient: str
    hash: str
    at: str


def digest(html: str) -> str:
    """A copy's fingerprint: its key in ``copies`` and in the view cache."""
    return hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()


async def keep(tx: Tx, t: DeliveryTemplate) -> None:
    """Store ``t.html`` as the copy of each of ``t.recipients``.

    One writer of copies at a time, across nodes: another node's forget cannot drop a
    copy this transaction is about to name.
    """
    key, at = digest(t.html), t.registered_at or iso_now()
    recipients = list(dict.fromkeys(t.recipients))
    await tx.serialize("copies")
    replaced: set[str] = set()
    for chunk in tx.dialect.chunks(recipients):
        among, params = tx.dialect.any_of("recipient", chunk)
        rows = await tx.fetch(
            f"SELECT DISTINCT hash FROM recipient_copies WHERE delivery = ? AND {among}"
            " AND hash <> ?",
            [t.delivery, *params, key],
        )
        replaced.update(row[0] for row in rows)
    await tx.execute(
        "INSERT INTO copies (hash, html) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, t.html)
    )
    await tx.insert(
        "recipient_copies", [_RecipientCopy(t.delivery, r, key, at) for r in recipients], _UPSERT
    )
    await _drop_unused(tx, replaced)


async def drop(tx: Tx, recipient: str) -> None:
    """Forget ``recipient``'s copies, and every copy nobody else is left with."""
    await tx.serialize("copies")
    rows = await tx.fetch("SELECT hash FROM recipient_copies WHERE recipient = ?", (recipient,))
    await tx.execute("DELETE FROM recipient_copies WHERE recipient = ?", (recipient,))
    await _drop_unused(tx, {row[0] for row in rows})


async def _drop_unused(tx: Tx, hashes: set[str]) -> None:
    for chunk in tx.dialect.chunks(sorted(hashes)):
        among, params = tx.dialect.any_of("hash", chunk)
        await tx.execute(
            f"DELETE FROM copies WHERE {among} AND NOT EXISTS"
            " (SELECT 1 FROM recipient_copies AS v WHERE v.hash = copies.hash)",
            params,
        )
