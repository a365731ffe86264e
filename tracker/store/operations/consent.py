"""Consent changes: every change kept in ``consent_history`` and as an event of the
activity log, the latest per person current in ``consent``; and, when asked, the
person's stored hits erased."""

from __future__ import annotations

from tracker.store.dialect import Tx
from tracker.store.rows import ConsentHistoryRow, ConsentRow, consent_event
from tracker.store.units import ConsentChanges

# A state given with an older time than the current one is history, not current.
_NEWER = (
    "ON CONFLICT (recipient) DO UPDATE SET state = excluded.state, at = excluded.at,"
    " source = excluded.source, text = excluded.text WHERE excluded.at >= consent.at"
)


def latest(changes: tuple[ConsentRow, ...]) -> list[ConsentRow]:
    """Each person's latest change (the last given among equal times), in first order:
    one statement may change a row only once."""
    found: dict[str, ConsentRow] = {}
    for change in changes:
        kept = found.get(change.recipient)
        if kept is None or change.at >= kept.at:
            found[change.recipient] = change
    return list(found.values())


async def record(tx: Tx, unit: ConsentChanges) -> int:
    """Keep the changes; the hits deleted (``unit.erase``)."""
    await tx.insert(
        "consent_history",
        [ConsentHistoryRow(*change, recorded_at=unit.recorded_at) for change in unit.changes],
    )
    await tx.insert("consent", latest(unit.changes), _NEWER)
    await tx.insert("events", [consent_event(change) for change in unit.changes])
    if not unit.erase:
        return 0
    erased = 0
    people = sorted({change.recipient for change in unit.changes})
    for chunk in tx.dialect.chunks(people):
        among, params = tx.dialect.any_of("recipient", chunk)
        erased += await tx.execute(f"DELETE FROM hits WHERE {among}", params)
    return erased
