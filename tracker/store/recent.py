"""Recent clicks of busy (delivery, recipient) pairs, kept by the SQLite writer.

A click's verdict needs its pair's clicks near its time. Read from the database, a pair
clicked thousands of times a second (a link pasted on a forum, a scanner following every
link) costs each group a scan of every click in the window. The writer keeps instead,
for each busy pair (clicked again and again, each time within a second), its recent
clicks in memory, sorted by time with the runs of one link, and answers the reads'
questions with a few bisections.

It is a cache; the database stays the truth:

- it is used only while no other connection has committed since the writer's previous
  transaction (``PRAGMA data_version``, read under the write lock): another worker, a
  command-line ``forget`` or ``rescore``, clears it;
- a unit that changes stored hits other than by this writer's inserts and flips
  (rescore, forget, purge, a consent erasure) clears it;
- a group's clicks and flips are added only once its transaction has committed; any
  failure clears it.

A pair's clicks are complete from ``since`` on (its honeypot clicks from ``trap_since``):
a read reaching further back goes to the database.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from tracker.consent import State
from tracker.store.scoring import Neighbour, Pair, Scoring, Windows, bot_for, stored_click
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Verdict

# Seconds a pair's clicks are kept beyond the windows: groups commit a little after their
# hits' times, and a group's own span widens its reads.
LAG = 10.0
MAX_CLICKS = 250_000  # kept in all; the pairs touched least recently go first
MAX_SEEN = 50_000  # pairs remembered as clicked lately, and pairs kept
QUIET_GROUPS = 8  # transactions with no other writer before the cache is filled again
MAX_STATES = 200_000  # people's consent states kept (all forgotten when more)
BUSY = 16  # clicks of a pair in a row, each within BUSY_GAP s of the last, to keep it
BUSY_GAP = 1.0


class _Added(NamedTuple):
    pair: Pair
    click: Neighbour


def turned(n: Neighbour) -> bool:
    """Already bot for proximity: no probe can turn it again for that reason."""
    return bot_for(n, "proximity")


class PairClicks:
    """One pair's GET clicks from ``since`` on (honeypot ones from ``trap_since``)."""

    __slots__ = ("since", "trap_since", "times", "found", "runs", "open", "traps")

    def __init__(self, since: float, trap_since: float, stored: Iterable[Neighbour]) -> None:
        self.since = since
        self.trap_since = trap_since
        clicks = sorted(stored, key=lambda n: (n.seconds, n.id))
        self.found = [n for n in clicks if n.seconds >= since]
        self.times = [n.seconds for n in self.found]
        self.runs: list[int] = []
        self._rerun(0)
        self.open: dict[int | None, list[Neighbour]] = {}
        for n in self.found:
            if not turned(n):
                self.open.setdefault(n.link, []).append(n)
        self.traps = [n for n in clicks if n.link == HONEYPOT_LINK and n.seconds >= trap_since]

    def __len__(self) -> int:
        return len(self.found)

    def _rerun(self, start: int) -> None:
        """Recompute where runs of one link begin, from position ``start`` on."""
        runs = self.runs
        del runs[bisect_left(runs, start) :]
        found = self.found
        for i in range(start, len(found)):
            if i == 0 or found[i].link != found[i - 1].link:
                runs.append(i)

    def add(self, n: Neighbour) -> None:
        """A click just committed (nearly always the latest)."""
        if not self.times or n.seconds >= self.times[-1]:
            self.found.append(n)
            self.times.append(n.seconds)
            if len(self.found) == 1 or self.found[-2].link != n.link:
                self.runs.append(len(self.found) - 1)
        else:
            at = bisect_right(self.times, n.seconds)
            self.found.insert(at, n)
            self.times.insert(at, n.seconds)
            self._rerun(max(at - 1, 0))
        if not turned(n):
            insort(self.open.setdefault(n.link, []), n, key=_seconds)
        if n.link == HONEYPOT_LINK:
            insort(self.traps, n, key=_seconds)

    def find(self, hit_id: int, at: float) -> Neighbour | None:
        i = bisect_left(self.times, at)
        while i < len(self.times) and self.times[i] == at:
            if self.found[i].id == hit_id:
                return self.found[i]
            i += 1
        for n in self.traps:
            if n.id == hit_id:
                return n
        return None

    def prune(self, before: float, traps_before: float) -> None:
        """Forget the clicks before ``before`` (honeypot ones before ``traps_before``),
        when they are many: a copy of the lists, paid once in a while."""
        cut = bisect_left(self.times, before)
        if cut > 256 and cut * 2 > len(self.times):
            self.found = self.found[cut:]
            self.times = self.times[cut:]
            self.runs = []
            self._rerun(0)
            kept = ((link, [n for n in clicks if n.seconds >= before and not turned(n)])
                    for link, clicks in self.open.items())  # fmt: skip
            self.open = {link: clicks for link, clicks in kept if clicks}
            self.since = max(self.since, before)
        if self.traps and self.traps[0].seconds < traps_before:
            self.traps = [n for n in self.traps if n.seconds >= traps_before]
            self.trap_since = max(self.trap_since, traps_before)

    # The reads' questions -----------------------------------------------------------

    def unturned(self, lo: float, hi: float, skip: int | None = None) -> list[Neighbour]:
        """The clicks within [lo, hi] not yet bot for proximity, on links but ``skip``
        (a pasted link's thousands are never looked at)."""
        picked: list[Neighbour] = []
        for link, clicks in self.open.items():
            if link != skip:
                first = bisect_left(clicks, lo, key=_seconds)
                last = bisect_right(clicks, hi, key=_seconds)
                picked.extend(n for n in clicks[first:last] if not turned(n))
        return picked

    def trap_clicks(self, lo: float, hi: float) -> list[Neighbour]:
        first = bisect_left(self.traps, lo, key=_seconds)
        return self.traps[first : bisect_right(self.traps, hi, key=_seconds)]

    def witnesses(self, at: float, link: int | None, slack: float) -> list[Neighbour]:
        """The nearest click on another link before and after ``at``, within ``slack``."""
        times, found, runs = self.times, self.found, self.runs
        picked = []
        i = bisect_right(times, at) - 1
        if i >= 0 and found[i].link == link:
            i = runs[bisect_right(runs, i) - 1] - 1
        if i >= 0 and times[i] >= at - slack:
            picked.append(found[i])
        j = bisect_left(times, at)
        if j < len(found) and found[j].link == link:
            k = bisect_right(runs, j)
            j = runs[k] if k < len(runs) else len(found)
        if j < len(found) and times[j] <= at + slack:
            picked.append(found[j])
        return picked


def _seconds(n: Neighbour) -> float:
    return n.seconds


class RecentClicks:
    """The writer's cache of busy pairs' recent clicks (see the module docstring)."""

    def __init__(self, window: float, trap_window: float | None) -> None:
        self.keep = window + 1 + LAG
        self.trap_keep = (trap_window if trap_window is not None else 0.0) + 1 + LAG
        self.pairs: dict[Pair, PairClicks] = {}
        # People's consent states as last read (None: never stated), for the policy's
        # check at every hit; cleared as the clicks are.
        self.states: dict[str, State | None] = {}
        self._seen: dict[Pair, tuple[int, float]] = {}  # clicks in a row, last group's time
        self._now = 0.0
        self._version: int | None = None
        self._quiet = QUIET_GROUPS
        self._added: list[_Added] = []
        self._flips: list[tuple[Pair, int, float, str]] = []
        self._stale = False
        self._commits = 0

    def clear(self) -> None:
        self.pairs.clear()
        self.states.clear()
        self._added.clear()
        self._flips.clear()
        self._stale = False

    def begin(self, version: int) -> None:
        """A transaction starts; ``version`` is the connection's ``data_version`` then."""
        self._now = time.monotonic()
        self._added.clear()
        self._flips.clear()
        self._stale = False
        if version != self._version:
            if self._version is not None:
                self._quiet = 0
            self._version = version
            self.clear()
        else:
            self._quiet += 1

    def covering(self, pair: Pair, lo: float, trap_lo: float) -> PairClicks | None:
        """The pair's clicks, if they are known back to ``lo`` (traps to ``trap_lo``)."""
        entry = self.pairs.get(pair)
        if entry is None or entry.since > lo or entry.trap_since > trap_lo:
            return None
        return entry

    def wanted(self, pair: Pair, clicks: int) -> bool:
        """Whether to fill the pair from the database: it is busy (``BUSY`` clicks, each
        within ``BUSY_GAP`` s of the last: a link pasted where a crowd clicks it, a
        scanner), and no other writer is (each of its commits clears the cache). A person
        clicking now and then is read from the database: a few rows cost less than
        keeping them."""
        if self._quiet < QUIET_GROUPS:
            return False
        now = self._now
        streak, last = self._seen.get(pair, (0, -BUSY_GAP))
        streak = streak + clicks if now - last <= BUSY_GAP else clicks
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()  # forgetting who clicked lately costs a little keeping
        self._seen[pair] = (streak, now)
        return streak >= BUSY

    def fill(self, pair: Pair, since: float, trap_since: float, stored: list[Neighbour]) -> None:
        """The pair's clicks as the open transaction reads them (nothing of this group's
        is written yet, so they are the committed ones)."""
        self.pairs[pair] = PairClicks(since, trap_since, stored)

    def stage(self, added: Sequence[_Added], flips: Sequence[tuple[Pair, int, float, str]]) -> None:
        """The group's clicks and flips, applied once it commits."""
        self._added.extend(a for a in added if a.pair in self.pairs)
        self._flips.extend(f for f in flips if f[0] in self.pairs)

    def stale(self) -> None:
        """The group changes stored hits otherwise: clear once it commits."""
        self._stale = True

    def committed(self) -> None:
        """The group committed: its clicks and flips join the cache (on any surprise it
        is cleared: the hits are stored whatever happens here)."""
        try:
            self._join()
        except Exception:  # a cache: never worth failing a committed group for
            self.clear()

    def _join(self) -> None:
        if self._stale:
            self.clear()
            return
        newest = 0.0
        touched = set()
        for pair, click in self._added:
            entry = self.pairs.get(pair)
            if entry is not None:
                entry.add(click)
                touched.add(pair)
                newest = max(newest, click.seconds)
        for pair, hit_id, at, reasons in self._flips:
            entry = self.pairs.get(pair)
            if entry is None:
                continue
            found = entry.find(hit_id, at)
            if found is not None:
                found.verdict, found.reasons = Verdict.BOT, reasons
            elif at >= entry.since:  # kept, yet not found: read the pair again
                del self.pairs[pair]
                touched.discard(pair)
        self._added.clear()
        self._flips.clear()
        for pair in touched:
            entry = self.pairs.pop(pair)
            entry.prune(newest - self.keep, newest - self.trap_keep)
            self.pairs[pair] = entry  # touched last, evicted last
        self._commits += 1
        if self._commits % 64 == 0 or len(self.pairs) > MAX_SEEN:
            total = sum(len(e) for e in self.pairs.values())
            while self.pairs and (total > MAX_CLICKS or len(self.pairs) > MAX_SEEN):
                total -= len(self.pairs.pop(next(iter(self.pairs))))

    @staticmethod
    def click(pair: Pair, hit_id: int, at: str, link: int | None, verdict: str | None,
              reasons: str | None) -> _Added:  # fmt: skip
        return _Added(pair, stored_click(hit_id, at, link, verdict, reasons))


def recent_clicks(scoring: Scoring) -> RecentClicks:
    """The cache for ``scoring``'s windows (those its reads cover)."""
    windows = Windows.of([], scoring)
    return RecentClicks(windows.window, windows.trap_window)
