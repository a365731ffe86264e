"""Units of work a store's writer takes, whatever the store, and what each one returns."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from tracker.store.rows import ConsentRow

# The workflow's watermark (in ``workflow_state``), and the tables it fills.
WATERMARK = "events"
REPORT_TABLES = ("report_totals", "report_links", "report_hours", "report_clients",
                 "report_clickers", "report_uniques")  # fmt: skip
# Raw hits deleted per transaction past retention.
PURGE_CHUNK = 5000


def person_hash(key: str, recipient: str) -> str:
    """The keyed hash that stands for a forgotten recipient."""
    return hmac.new(key.encode(), recipient.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Forget:
    """A unit of the writer: erase ``recipient``; returns ``Forgotten``."""

    recipient: str
    hashed: str


@dataclass(frozen=True, slots=True)
class Forgotten:
    hits: int
    events: int


@dataclass(frozen=True, slots=True)
class Purge:
    """A unit of the writer: delete raw hits older than ``before`` (a chunk); how many."""

    before: str


@dataclass(frozen=True, slots=True)
class Rescore:
    """A unit of the writer: re-judge the next ``limit`` hits after ``after_id``."""

    since: str
    after_id: int
    limit: int = 5000


@dataclass(frozen=True, slots=True)
class Rescored:
    last_id: int  # the last hit judged (0 when none was left)
    judged: int
    changed: int


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A unit of the writer: one chunk of a run; returns the run as it stands after it."""

    started_at: str
    ended_at: str
    node: str
    # Events after this time wait for the next run: a later hit may still turn them to
    # bot (the proximity and honeypot windows).
    settled_before: str
    expired: int = 0  # raw hits deleted past retention just before
    # Events per transaction: tracking writes wait for one chunk at most, never a run.
    limit: int = 20_000
    more: bool = False  # another chunk is due (the unit returned is written again)
    settled_end: int | None = None  # the last settled event's id, found by the first chunk
    rows_read: int = 0  # totals over the run's chunks
    rows_written: int = 0
    watermark: int = 0
    run_id: int = 0


@dataclass(frozen=True, slots=True)
class FailedRun:
    """A unit of the writer: record a run that could not complete."""

    started_at: str
    ended_at: str
    error: str
    node: str


@dataclass(frozen=True, slots=True)
class ConsentChanges:
    """A unit of the writer: people's consent states, kept in their history; the latest
    ``at`` of each person becomes current. With ``erase``, the people's stored hits are
    deleted too (their events stay, so counts do not move). Returns the hits deleted."""

    changes: tuple[ConsentRow, ...]
    recorded_at: str
    erase: bool = False
