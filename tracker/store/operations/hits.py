"""A group's hits, judged in the transaction that stores them, with their events.

The context of each verdict is read set-wise (``tracker.store.scoring`` says what to
read and decides): the Sent and Delivered times of the hits' (delivery, recipient) pairs
and their stored clicks near the hits' times, each read bounded by a (recipient, at)
index to those seconds however long a person's history is. A new hit can reveal older
ones (the first click of a burst, the clicks just before a honeypot click): those
stored clicks turn to ``bot`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Any, NamedTuple

from tracker.consent import Policy, State, allows, policy_for
from tracker.events import Hit
from tracker.eventtypes import JUDGED_ROUTES, SEND_TIMES_SQL
from tracker.store.dialect import Tx
from tracker.store.recent import MAX_STATES, RecentClicks
from tracker.store.rows import hit_rows, probes_of
from tracker.store.scoring import (
    Neighbour,
    Pair,
    Probe,
    Scored,
    Scoring,
    Windows,
    decide,
    iso_shift,
    merge,
    seconds,
    span,
    stored_click,
)
from tracker.tokens import HONEYPOT_LINK

_NEIGHBOUR = "id, delivery, recipient, at, link, verdict, reasons"
_GET_CLICKS = " AND route = 'click' AND method = 'GET'"
# A stored click already bot for proximity (``_flip`` leaves it as it is).
_TURNED = (
    "(coalesce(verdict, '') = 'bot' AND ',' || coalesce(reasons, '') || ',' LIKE '%,proximity,%')"
)
# Per probe, the nearest GET click of its pair on another link on each side of its time.
_NEAREST = (
    "SELECT id FROM hits INDEXED BY hits_recipient_at WHERE recipient = p.recipient"
    " AND delivery = p.delivery AND at BETWEEN {range} AND coalesce(link, -1) <> p.link"
    f"{_GET_CLICKS} ORDER BY at {{order}} LIMIT 1"
)
_WITNESSES = (
    "WITH p (recipient, delivery, lo, at, hi, link) AS ({source})"
    f" SELECT ({_NEAREST.format(range='p.lo AND p.at', order='DESC')}),"
    f" ({_NEAREST.format(range='p.at AND p.hi', order='ASC')}) FROM p"
)


class _Flip(NamedTuple):
    id: int
    recipient: str
    verdict: str
    reasons: str


class _FlipEvent(NamedTuple):
    hit_id: int
    recipient: str
    verdict: str


async def insert_hits(tx: Tx, hits: Sequence[Hit], scoring: Scoring) -> None:
    """Insert a group of hits, judged, and their events: a statement each.

    Ids are given here, not by the database, so each event can name its hit without a
    round trip per row.
    """
    await tx.prepare_hits(hits)
    ids = await tx.hit_ids(len(hits))
    probes = probes_of(ids, list(hits))
    scored, stored = await score(tx, probes, scoring)
    verdicts = dict(zip((p.id for p in probes), scored.verdicts, strict=True))
    untracked = await untracked_hits(tx, ids, hits, scoring) if scoring.reads_consent else None
    asked = frozenset(i for i, h in zip(ids, hits, strict=True) if h.untracked)
    rows, events = hit_rows(ids, list(hits), verdicts, scoring, (untracked or frozenset()) | asked)
    await tx.insert("hits", rows)
    await tx.insert("events", events, "ON CONFLICT DO NOTHING")
    await _apply_flips(tx, scored.flipped, stored)
    if tx.recent is not None and tx.recent.pairs:
        tx.recent.stage(
            [RecentClicks.click((r.delivery, r.recipient), r.id, r.at, r.link, r.verdict,
                                r.reasons)
             for r in rows if r.route == "click" and r.method == "GET"],
            [(pair, n.id, n.seconds, scored.flipped[n.id])
             for pair, ns in stored.items() for n in ns if n.id in scored.flipped],
        )  # fmt: skip


async def untracked_hits(
    tx: Tx, ids: list[int], hits: Sequence[Hit], scoring: Scoring
) -> frozenset[int]:
    """The open and click hits whose person may not be tracked now, under their
    campaign's consent policy: one read of the people's current states by primary key
    (on SQLite, of those the writer has not kept since its last read: tracker.store.recent)."""
    overrides = dict(scoring.consent_campaigns)
    held = [(i, h, policy_for(scoring.consent, overrides, h.message.campaign))
            for i, h in zip(ids, hits, strict=True) if h.route in JUDGED_ROUTES]  # fmt: skip
    held = [(i, h, policy) for i, h, policy in held if policy is not Policy.OFF]
    kept = tx.recent.states if tx.recent is not None else None
    people = sorted({h.message.recipient for _, h, _ in held})
    states: dict[str, State | None] = {}
    if kept is not None:
        states = {p: kept[p] for p in people if p in kept}
        people = [p for p in people if p not in kept]
    for chunk in tx.dialect.chunks(people):
        among, params = tx.dialect.any_of("recipient", chunk)
        for recipient, state in await tx.fetch(
            f"SELECT recipient, state FROM consent WHERE {among}", params
        ):
            states[recipient] = State(state)
    if kept is not None and people:
        if len(kept) > MAX_STATES:
            kept.clear()
        kept.update((p, states.get(p)) for p in people)
    return frozenset(
        i for i, h, policy in held if not allows(policy, states.get(h.message.recipient))
    )


async def score(
    tx: Tx, probes: list[Probe], scoring: Scoring
) -> tuple[Scored, dict[Pair, list[Neighbour]]]:
    """Verdicts for ``probes`` (in id order), and the stored clicks read for them."""
    need = Windows.of(probes, scoring)
    sends = await _send_times(tx, probes) if need.sends and probes else {}
    stored: dict[Pair, list[Neighbour]] = {}
    if need.clicks:
        rest = need.clicks
        if tx.recent is not None:
            stored, rest = await _from_recent(tx, tx.recent, need, scoring)
        own = _own_links(rest)
        single = [p for p in rest if (p.delivery, p.recipient) in own]
        mixed = [p for p in rest if (p.delivery, p.recipient) not in own]
        if single:
            merge(stored, await _stored_clicks(tx, single, need.window, need.trap_window, own))
        if mixed:
            merge(stored, await _stored_clicks(tx, mixed, need.window, need.trap_window, {}, True))
            if "proximity" in scoring.judge.signals:
                merge(stored, await _witnesses(tx, mixed, need.window))
        if need.traps and need.trap_window is not None:  # rare: every click around a trap
            merge(stored, await _stored_clicks(tx, need.traps, need.trap_window, None, {}))
    return decide(probes, scoring, sends, stored), stored


async def _from_recent(
    tx: Tx, recent: RecentClicks, need: Windows, scoring: Scoring
) -> tuple[dict[Pair, list[Neighbour]], list[Probe]]:
    """What ``_stored_clicks`` and ``_witnesses`` would read, for the pairs the writer
    keeps in memory (filled here from the database for busy pairs); the other probes."""
    by_pair: dict[Pair, list[Probe]] = {}
    for p in need.clicks:
        by_pair.setdefault((p.delivery, p.recipient), []).append(p)
    # Most pairs (distinct people) are neither kept nor busy: they cost two look-ups.
    kept = [pair for pair, probes in by_pair.items()
            if pair in recent.pairs or recent.wanted(pair, len(probes))]  # fmt: skip
    if not kept:
        return {}, need.clicks
    trap_window = need.trap_window if need.trap_window is not None else 0.0
    at = {p.id: seconds(p.at) for pair in kept for p in by_pair[pair]}
    bounds: dict[Pair, tuple[float, float, float, float]] = {}
    for pair in kept:
        first = min(at[p.id] for p in by_pair[pair])
        last = max(at[p.id] for p in by_pair[pair])
        bounds[pair] = (first - need.window - 1, last + need.window + 1,
                        first - trap_window - 1, last + trap_window + 1)  # fmt: skip
    fill = [
        pair for pair in kept if recent.covering(pair, bounds[pair][0], bounds[pair][2]) is None
    ]
    if fill:
        await _fill(tx, recent, [p for pair in fill for p in by_pair[pair]], need, set(fill))
    served: dict[Pair, list[Neighbour]] = {}
    proximity = "proximity" in scoring.judge.signals
    for pair in kept:
        probes = by_pair[pair]
        lo, hi, trap_lo, trap_hi = bounds[pair]
        entry = recent.covering(pair, lo, trap_lo)
        if entry is None:
            continue
        links = {p.link for p in probes}
        own = next(iter(links)) if len(links) == 1 else None
        # As the database's reads: what a probe may turn, and the nearest clicks on
        # another link (whether one is near); a single link's own clicks turn nothing.
        found = entry.unturned(lo, hi, own if own != HONEYPOT_LINK else None)
        if proximity:
            slack = need.window + 0.001
            found += [n for p in probes for n in entry.witnesses(at[p.id], p.link, slack)]
        if need.trap_window is not None:
            found += entry.trap_clicks(trap_lo, trap_hi)
        served[pair] = list({n.id: n for n in found}.values())
    return served, [p for p in need.clicks if (p.delivery, p.recipient) not in served]


async def _fill(
    tx: Tx, recent: RecentClicks, probes: list[Probe], need: Windows, pairs: set[Pair]
) -> None:
    """Read the pairs' stored clicks from the earliest time a probe's windows reach on,
    and keep them in ``recent``."""
    lo = iso_shift(min(p.at for p in probes), -need.window - 1)
    trap_lo = lo
    if need.trap_window is not None:
        trap_lo = iso_shift(min(p.at for p in probes), -need.trap_window - 1)
    found: dict[Pair, dict[int, Neighbour]] = {pair: {} for pair in pairs}
    for chunk in tx.dialect.chunks(sorted({p.recipient for p in probes})):
        among, values = tx.dialect.any_of("recipient", chunk)
        sql = (
            f"SELECT {_NEIGHBOUR} FROM hits INDEXED BY hits_recipient_at"
            f" WHERE {among} AND at >= ?{_GET_CLICKS}"
            f" UNION ALL SELECT {_NEIGHBOUR} FROM hits INDEXED BY hits_traps"
            f" WHERE {among} AND at >= ?{_GET_CLICKS} AND link = {HONEYPOT_LINK}"
        )
        for pair, n in _of_pairs(await tx.fetch(sql, [*values, lo, *values, trap_lo]), pairs):
            found[pair][n.id] = n
    for pair, clicks in found.items():
        recent.fill(pair, seconds(lo), seconds(trap_lo), list(clicks.values()))


async def _send_times(tx: Tx, probes: list[Probe]) -> dict[Pair, list[str]]:
    """Sent and Delivered times of each (delivery, recipient), oldest first."""
    pairs = {(p.delivery, p.recipient) for p in probes}
    found: dict[Pair, list[str]] = {}
    for chunk in tx.dialect.chunks(sorted({p.recipient for p in probes})):
        among, params = tx.dialect.any_of("recipient", chunk)
        rows = await tx.fetch(
            "SELECT delivery, recipient, at FROM events INDEXED BY events_sends"
            f" WHERE {among} AND type IN ({SEND_TIMES_SQL}) ORDER BY at",
            params,
        )
        for delivery, recipient, at in rows:
            if (delivery, recipient) in pairs:
                found.setdefault((delivery, recipient), []).append(at)
    return found


async def _stored_clicks(
    tx: Tx,
    probes: list[Probe],
    window: float,
    trap_window: float | None,
    own: dict[Pair, int],
    unturned: bool = False,
) -> dict[Pair, list[Neighbour]]:
    """Stored GET clicks of the probes' pairs: every click within ``window`` of their
    times, and honeypot clicks (their own small index) within ``trap_window``.

    Left out: a pair's clicks on its ``own`` link, and with ``unturned`` the clicks
    already bot for proximity (a scanner's): they can turn nothing, and whether another
    link was clicked near is asked of ``_witnesses``.
    """
    pairs = {(p.delivery, p.recipient) for p in probes}
    found: dict[Pair, list[Neighbour]] = {}
    seen: set[int] = set()
    for chunk in tx.dialect.chunks(sorted({p.recipient for p in probes})):
        among, values = tx.dialect.any_of("recipient", chunk)
        members = set(chunk)
        skip = [(own[(d, r)], r, d) for d, r in sorted(own) if r in members]
        sql = (
            f"SELECT {_NEIGHBOUR} FROM hits INDEXED BY hits_recipient_at"
            f" WHERE {among} AND at BETWEEN ? AND ?{_GET_CLICKS}"
        )
        params = [*values, *span(probes, window)]
        if skip:
            source, values_ = tx.dialect.rows(("integer", "text", "text"), skip)
            sql += f" AND (coalesce(link, -1), recipient, delivery) NOT IN ({source})"
            params += values_
        if unturned:
            sql += f" AND NOT {_TURNED}"
        if trap_window is not None:
            sql += (
                f" UNION ALL SELECT {_NEIGHBOUR} FROM hits INDEXED BY hits_traps"
                f" WHERE {among} AND at BETWEEN ? AND ?{_GET_CLICKS}"
                f" AND link = {HONEYPOT_LINK}"
            )
            params += [*values, *span(probes, trap_window)]
        for pair, n in _of_pairs(await tx.fetch(sql, params), pairs):
            if n.id not in seen:
                seen.add(n.id)
                found.setdefault(pair, []).append(n)
    return found


async def _witnesses(tx: Tx, probes: list[Probe], window: float) -> dict[Pair, list[Neighbour]]:
    """For each probe, the nearest stored click of its pair on another link before and
    after it within ``window`` (if any): whether another link was clicked near, asked
    without reading every click (a scanner's hundreds) that answers yes."""
    slack = window + 0.001  # the exact test is decide's, on these two
    rows = [(p.recipient, p.delivery, iso_shift(p.at, -slack), p.at, iso_shift(p.at, slack),
             p.link if p.link is not None else -1) for p in probes]  # fmt: skip
    source, params = tx.dialect.rows(("text", "text", "text", "text", "text", "integer"), rows)
    ids = sorted({i for pair in await tx.fetch(_WITNESSES.format(source=source), params)
                  for i in pair if i is not None})  # fmt: skip
    pairs = {(p.delivery, p.recipient) for p in probes}
    found: dict[Pair, list[Neighbour]] = {}
    for chunk in tx.dialect.chunks(ids):
        among, values = tx.dialect.any_of("id", chunk)
        near = await tx.fetch(f"SELECT {_NEIGHBOUR} FROM hits WHERE {among}", values)
        for pair, n in _of_pairs(near, pairs):
            found.setdefault(pair, []).append(n)
    return found


def _of_pairs(
    rows: Sequence[Sequence[Any]], pairs: Container[Pair]
) -> Iterator[tuple[Pair, Neighbour]]:
    """The stored clicks (rows of ``_NEIGHBOUR``) of ``pairs``, each with its pair."""
    for hit_id, delivery, recipient, at, link, verdict, reasons in rows:
        if (delivery, recipient) in pairs:
            yield (delivery, recipient), stored_click(hit_id, at, link, verdict, reasons)


def _own_links(probes: list[Probe]) -> dict[Pair, int]:
    """The pairs whose clicks here are all on one link (not the honeypot), and that link.

    Their stored clicks on that link cannot change a verdict here: proximity needs a
    click on another link, and only a honeypot click turns clicks of any link to bot.
    A link clicked by thousands (pasted on a forum) is then not read at all.
    """
    links: dict[Pair, set[int | None]] = {}
    for p in probes:
        links.setdefault((p.delivery, p.recipient), set()).add(p.link)
    return {
        pair: link
        for pair, (link,) in (
            (pair, tuple(found)) for pair, found in links.items() if len(found) == 1
        )
        if link is not None and link != HONEYPOT_LINK
    }


async def _apply_flips(
    tx: Tx, flipped: dict[int, str], stored: dict[Pair, list[Neighbour]]
) -> None:
    """Write the stored clicks a new hit revealed as bot, and their Clicked events."""
    if not flipped:
        return
    whose = {n.id: recipient for (_, recipient), ns in stored.items() for n in ns}
    await tx.update(
        "hits",
        [_Flip(i, whose[i], "bot", reasons) for i, reasons in flipped.items()],
        ("recipient", "id"),
    )
    await tx.update(
        "events",
        [_FlipEvent(i, whose[i], "bot") for i in flipped],
        ("recipient", "hit_id"),
        "type = 'clicked'",
    )
