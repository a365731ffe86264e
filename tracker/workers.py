"""``tracker serve --workers N``: N server processes sharing one port (SO_REUSEPORT).

The parent only supervises: it starts the workers, restarts one that dies, and passes
SIGTERM/SIGINT on so that every worker drains and flushes its writer before exiting.
Each worker owns its writer; on SQLite the database's write lock serializes their
commits (``BEGIN IMMEDIATE`` with a busy timeout), so no client sees ``database is locked``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

import structlog

log = structlog.get_logger("tracker.workers")

# A worker that dies is restarted after this pause, so a crash loop does not spin.
RESTART_PAUSE = 1.0


class Supervisor:
    """Runs ``count`` copies of ``command`` until told to stop."""

    def __init__(self, command: Sequence[str], count: int) -> None:
        self.command = list(command)
        self.count = count
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.signum: int = signal.SIGTERM
        self.signalled: set[int] = set()

    def _start_one(self, index: int) -> subprocess.Popen[bytes]:
        # Worker 0 (and its replacement) runs the once-per-node jobs such as webhooks.
        env = {**os.environ, "TRACKER_WORKER_INDEX": str(index)}
        worker = subprocess.Popen(self.command, env=env)
        log.info("worker started", pid=worker.pid, index=index)
        return worker

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.signum = signum
        for worker in self.workers:
            self._signal(worker)

    def _signal(self, worker: subprocess.Popen[bytes]) -> None:
        """Pass the stop signal on to ``worker`` once, if it still runs."""
        if worker.poll() is None and worker.pid not in self.signalled:
            self.signalled.add(worker.pid)
            worker.send_signal(self.signum)

    def run(self) -> int:
        """Supervise until a signal; the exit code is 0 when every worker exited 0."""
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        self.workers = [self._start_one(i) for i in range(self.count)]
        while not self.stopping:
            time.sleep(0.2)
            for i, worker in enumerate(self.workers):
                code = worker.poll()
                if code is not None and not self.stopping:
                    log.error("worker exited; restarting", pid=worker.pid, code=code)
                    time.sleep(RESTART_PAUSE)
                    if not self.stopping:
                        self.workers[i] = self._start_one(i)
        # A replacement started while the signal was being handled was not in the list
        # the handler walked: it gets the signal now.
        for worker in self.workers:
            self._signal(worker)
        codes = [worker.wait() for worker in self.workers]
        log.info("workers stopped", codes=codes)
        # A worker still starting when the signal came dies of it before it could install
        # its handler: it had accepted nothing, so that is a clean stop too.
        clean = {0, -signal.SIGTERM, -signal.SIGINT}
        return 0 if all(code in clean for code in codes) else 1


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command line of one worker: this one, with --workers 1 and --reuse-port."""
    args = list(argv)
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = i + 1 < len(args)
            continue
        if arg.startswith("--workers="):
            continue
        out.append(arg)
    return [sys.executable, "-m", "tracker", *out, "--workers", "1", "--reuse-port"]
