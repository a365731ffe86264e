"""``python -m reliability [--profile ci|full] [--markdown FILE] [--only N,M]``.

Runs the rows in order, each against its own server subprocess and data directory under
a temporary folder, prints the table and exits 1 when any figure misses its goal.
"""

from __future__ import annotations

import argparse
import platform
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reliability import (
    crash,
    decorating,
    faults,
    heldsockets,
    hookrows,
    ingest,
    limits,
    privacy,
    reads,
    rolling,
    tokenrows,
    unsubrows,
    xss,
)
from reliability.figures import Figure, markdown_table, text_table
from reliability.harness import stop_all


@dataclass(frozen=True)
class Profile:
    kill_rounds: int  # of each load: mixed, hot token, scanner
    term_rounds: int
    rolling_seconds: float
    random_tokens: int
    mutated_tokens: int
    targets: int
    scanners: int
    one_click_people: int
    xss_payloads: int
    ingest_requests: int
    limit_rounds: int
    fault_seconds: float
    read_seconds: float
    privacy_seconds: float
    decorate_seconds: float
    held: tuple[float, float, float]  # head deadline, keep-alive, seconds of pixels
    hook_posts: int


PROFILES = {
    "ci": Profile(2, 3, 20, 100_000, 30_000, 30_000, 10_000, 200, 240, 30_000, 20, 10, 30, 3,
                  10, (2, 5, 12), 2_000),
    "full": Profile(40, 20, 120, 1_000_000, 100_000, 100_000, 10_000, 1000, 240, 100_000, 200,
                    60, 600, 30, 60, (5, 15, 40), 10_000),
}  # fmt: skip


def rows(p: Profile, work: Path, seed: int) -> dict[int, Callable[[], Figure]]:
    """The rows by number."""
    rng = random.Random(seed)
    listed = [
        lambda: crash.kill_rounds(work / "01-kill", p.kill_rounds, rng),
        lambda: crash.term_rounds(work / "02-term", p.term_rounds, rng),
        lambda: rolling.rolling_restart(work / "03-roll", p.rolling_seconds),
        lambda: tokenrows.random_tokens(work / "04-random", p.random_tokens, seed),
        lambda: tokenrows.mutated_tokens(work / "05-mutated", p.mutated_tokens, seed),
        lambda: tokenrows.signed_targets(work / "06-targets", p.targets, seed),
        lambda: unsubrows.scanners(work / "07-scanners", p.scanners),
        lambda: unsubrows.one_click(work / "08-oneclick", p.one_click_people),
        lambda: xss.xss(work / "09-xss", p.xss_payloads),
        lambda: ingest.ingest(work / "10-ingest", p.ingest_requests, seed),
        lambda: limits.limits(work / "11-limits", p.limit_rounds),
        lambda: faults.faults(work / "12-faults", p.fault_seconds),
        lambda: reads.reads(work / "13-reads", p.read_seconds),
        lambda: privacy.privacy(work / "14-privacy", p.privacy_seconds),
        lambda: decorating.pixels_during_decorate(work / "15-decorate", p.decorate_seconds),
    ]
    numbered = dict(enumerate(listed, 1))
    numbered[16] = lambda: heldsockets.held_sockets(work / "16-held", *p.held)
    numbered[17] = lambda: hookrows.hooks(work / "17-hooks", p.hook_posts, seed)
    return numbered


def machine() -> str:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"nproc {nproc}, Python {platform.python_version()}, {platform.platform()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    parser.add_argument("--markdown", type=Path, help="also write the table here (Markdown)")
    parser.add_argument("--only", help="comma-separated row numbers (1-17) to run")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders")
    args = parser.parse_args(argv)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    table = rows(PROFILES[args.profile], work, args.seed)
    only = {int(n) for n in args.only.split(",")} if args.only else set(table)
    figures: list[Figure] = []
    try:
        for number, row in sorted(table.items()):
            if number not in only:
                continue
            started = time.monotonic()
            try:
                figure = row()
            except Exception as exc:  # a row that breaks is a failed row, the rest still run
                traceback.print_exc()
                figure = Figure(f"row {number}", f"error: {exc!r}"[:300], "runs", False)
            figure.seconds = time.monotonic() - started
            figure.number = number
            figures.append(figure)
            print(f"[{number:2}] {figure.verdict} {figure.test}: {figure.figure}", flush=True)
    finally:
        stop_all()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    table = text_table(figures)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    took = time.monotonic() - began
    header = f"profile {args.profile}, {stamp}, {machine()}, {took:.0f} s"
    print(f"\n{header}\n{table}")
    if args.markdown:
        args.markdown.write_text(f"{header}\n\n{markdown_table(figures)}\n", encoding="utf-8")
    return 0 if figures and all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
