"""Units of work a store's writer takes, whatever the store; their figures are filled in."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

# The workflow's watermark (in ``workflow_state``), and the tables it fills.
WATERMARK = "events"
REPORT_TABLES = ("report_totals", "report_links", "report_hours", "report_clients",
                 "report_clickers", "report_uniques")  # fmt: skip
# Raw hits deleted per transaction past retention.
PURGE_CHUNK = 5000


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
    """A unit of the writer: delete up to PURGE_CHUNK raw hits older than ``before``."""

    before: str
    deleted: int = 0


@dataclass
class WorkflowRun:
    """A unit of the writer: one run; the figures are filled in."""

    started_at: str
    ended_at: str
    node: str
    # Events after this time wait for the next run: a later hit may still turn them to
    # bot (the proximity and honeypot windows).
    settled_before: str
    expired: int = 0  # raw hits deleted past retention just before
    # Events per transaction: tracking writes wait for one chunk at most, never a run.
    limit: int = 20_000
    more: bool = False  # out: another chunk is due (the same unit is written again)
    settled_end: int | None = None  # the last settled event's id, found by the first chunk
    rows_read: int = 0  # totals over the run's chunks
    rows_written: int = 0
    watermark: int = 0
    run_id: int = 0


@dataclass
class FailedRun:
    """A unit of the writer: record a run that could not complete."""

    started_at: str
    ended_at: str
    error: str
    node: str
