"""Re-judging stored hits with today's rules, a chunk per transaction."""

from __future__ import annotations

from typing import Any, NamedTuple

from tracker.events import Route
from tracker.eventtypes import JUDGED_ROUTES_SQL
from tracker.store.dialect import Tx
from tracker.store.operations.consolidate import reset
from tracker.store.operations.hits import score
from tracker.store.rows import OPEN_HIT, RESCORED, opened_rows, rejudged
from tracker.store.scoring import Probe, Scoring
from tracker.store.units import Rescore, Rescored

_SELECT = (
    f"SELECT {', '.join(RESCORED)} FROM hits WHERE id > ? AND at >= ?"
    f" AND route IN ({JUDGED_ROUTES_SQL}) ORDER BY id LIMIT ?"
)


async def rescore(tx: Tx, unit: Rescore, scoring: Scoring) -> Rescored:
    """Re-judge the chunk of stored hits after ``unit.after_id``, and follow with their events.

    Each hit is judged with all its neighbours stored, before and after it. Clicked events
    take their hit's new verdict. Opened events are rebuilt, in hit order, for every
    (email, recipient, campaign) the chunk touches, so the one human Opened goes to the
    first human open of the range (a later chunk rebuilds its own opens again).
    """
    if unit.after_id == 0:
        await reset(tx)  # the consolidated counts hold the old verdicts: rebuilt by the next run
    found: list[dict[str, Any]] = [
        dict(zip(RESCORED, row, strict=True))
        for row in await tx.fetch(_SELECT, (unit.after_id, unit.since, unit.limit))
    ]
    if not found:
        return Rescored(0, 0, 0)
    probes = [Probe(*(row[field] for field in Probe._fields)) for row in found]
    scored, _ = await score(tx, probes, scoring)  # neighbours outside the chunk are not written
    updates = []
    changed = 0
    for row, probe, (verdict, reasons) in zip(found, probes, scored.verdicts, strict=True):
        updates.append(rejudged(probe, verdict, reasons))
        changed += (row["verdict"], row["reasons"] or "") != (verdict, reasons)
    await tx.update("hits", updates, ("recipient", "id"))
    await tx.update(
        "events",
        [_Verdict(u.id, u.recipient, u.verdict) for u in updates],
        ("recipient", "hit_id"),
        "type = 'clicked'",
    )
    opened = {(row["email"], row["recipient"], row["campaign"]) for row in found
              if row["route"] == Route.OPEN}  # fmt: skip
    last = int(found[-1]["id"])
    for email, recipient, campaign in sorted(opened):
        await _rebuild_opened(tx, unit.since, last, email, recipient, campaign)
    return Rescored(last, len(found), changed)


class _Verdict(NamedTuple):
    hit_id: int
    recipient: str
    verdict: str


async def _rebuild_opened(
    tx: Tx, since: str, upto: int, email: str, recipient: str, campaign: str
) -> None:
    """The Opened events of one person and email, from the hits since ``since``."""
    await tx.execute(
        "DELETE FROM events WHERE type = 'opened' AND recipient = ? AND email = ?"
        " AND campaign = ? AND hit_id IN (SELECT id FROM hits WHERE at >= ? AND recipient = ?)",
        (recipient, email, campaign, since, recipient),
    )
    hits = await tx.fetch(
        f"SELECT {', '.join(OPEN_HIT)} FROM hits INDEXED BY hits_recipient_at"
        " WHERE recipient = ? AND email = ? AND campaign = ? AND at >= ? AND id <= ?"
        " AND route = 'open' AND method = 'GET' ORDER BY id",
        (recipient, email, campaign, since, upto),
    )
    await tx.insert(
        "events", opened_rows(hits, recipient, campaign, email), "ON CONFLICT DO NOTHING"
    )
