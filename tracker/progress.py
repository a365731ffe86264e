"""Progress of the long commands: a bar on a terminal, a log line now and then otherwise.

On a terminal (stderr), click's progress bar shows done/total, the rate and the time left
where the total is known. Piped, under ``--json`` or ``TRACKER_LOG_FORMAT=json``, one
structured ``progress`` line every ``TRACKER_PROGRESS_SECONDS`` (5) says the same, so a
log collector sees a long run move without a bar's control characters.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Any

import click
import structlog

log = structlog.get_logger("tracker")


def on_terminal(as_json: bool = False) -> bool:
    """Whether a bar may be drawn: stderr is a terminal and nobody asked for JSON."""
    if as_json or os.environ.get("TRACKER_LOG_FORMAT", "auto") == "json":
        return False
    return sys.stderr.isatty()


def duration(seconds: float) -> str:
    """``2.4 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """``p = Progress("Rescoring", "hits")``, then ``with p.begin(total): … p.advance(n)``.

    Made before the work is counted, so a command can say how far it got whether or not
    the count was reached; ``begin`` starts the clock and, on a terminal, the bar.
    """

    def __init__(self, label: str, unit: str, *, as_json: bool = False) -> None:
        self.label = label
        self.unit = unit
        self.every = float(os.environ.get("TRACKER_PROGRESS_SECONDS") or 5)
        self.total: int | None = None
        self.begun = False
        self.done = 0
        self.started = self._logged = time.monotonic()
        self._terminal = on_terminal(as_json)
        self._bar: Any = None

    def begin(self, total: int | None) -> Progress:
        """Start counting towards ``total`` (None: unknown)."""
        self.total, self.begun = total, True
        self.started = self._logged = time.monotonic()
        if self._terminal:
            self._bar = click.progressbar(
                length=total if total else None,
                label=self.label,
                file=sys.stderr,
                show_eta=bool(total),
                show_pos=True,
                item_show_func=lambda _: f"{self.rate():,.0f} {self.unit}/s",
            )
        return self

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started if self.begun else 0.0

    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def advance(self, count: int) -> None:
        """``count`` more done."""
        self.done += count
        if self._bar is not None:
            self._bar.update(count, self.done)
            return
        now = time.monotonic()
        if now - self._logged >= self.every:
            self._logged = now
            left = None
            if self.total and self.rate() > 0:
                left = round(max(0, self.total - self.done) / self.rate(), 1)
            log.info(
                "progress",
                task=self.label,
                done=self.done,
                total=self.total,
                unit=self.unit,
                per_second=round(self.rate(), 1),
                seconds_left=left,
            )

    def so_far(self) -> str:
        """``1,200 of 5,000 hits`` (or ``1,200 hits`` without a total)."""
        if self.total:
            return f"{self.done:,} of {self.total:,} {self.unit}"
        return f"{self.done:,} {self.unit}"
