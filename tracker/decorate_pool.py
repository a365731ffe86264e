"""Decoration off the event loop: a small process pool with a CPU budget per call.

CPython's HTML parser is quadratic on some malformed input (``"<a " * n``), and a large
template for many recipients is seconds of work: either, run in the server's event loop,
would hold up every other request. Here each call runs in a separate process, started on
first use with ``spawn``, at the lowest priority, killed when its server shuts down (or
dies), under a budget of ``decorate_seconds`` of CPU time: a call over it raises
``OverBudget``; a pool that is full, broken or stopping raises ``Busy``. A process stuck
past every deadline (where the budget's signal cannot reach it) is killed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import resource_tracker
from types import FrameType
from typing import Any, TypeVar

import structlog
from aiohttp import web

from tracker.decorate import Decorated, answer, decorate_many
from tracker.tokens import Message, Tokens

log = structlog.get_logger("tracker.decorate")
T = TypeVar("T")

# Processes per server process, and calls that may wait for one before Busy.
PROCESSES = 1
MAX_WAITING = 32
# Tracked links signed per call (links × recipients) and characters of HTML made per call.
MAX_LINKS = 200_000
MAX_OUTPUT = 32 * 1024 * 1024
_PR_SET_PDEATHSIG = 1


class OverBudget(Exception):
    """The call used more CPU time than its budget: the input is too costly to decorate."""


class Busy(Exception):
    """No process could take the call in time (pool full, broken or stuck)."""


_tokens: Tokens | None = None


def _on_budget(_signum: int, _frame: FrameType | None) -> None:
    raise OverBudget


def _child_init(secret_keys: Sequence[str], server: int) -> None:
    """In each pool process: the keys, a lower priority, and death with the server."""
    global _tokens
    with contextlib.suppress(OSError, AttributeError):  # Linux: die if the server dies
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:  # it died while this process was starting
        os._exit(0)
    _tokens = Tokens(secret_keys)
    # Ctrl-C in a terminal and systemd's SIGTERM reach the whole group: the server stops
    # its pool itself, after the calls in flight were answered. They were blocked since the
    # process was spawned (see _stop_signals_deferred): one sent while it started is
    # dropped here, once ignored, instead of killing it half-started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    signal.signal(signal.SIGPROF, _on_budget)
    with contextlib.suppress(OSError):
        os.nice(19)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _stop_signals_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread while it spawns pool processes, so that
    they start with both blocked (a signal mask survives fork and exec) until they ignore
    them; a signal sent meanwhile waits here and is handled as soon as this ends. The
    standard library starts its resource tracker the same way, but unblocks both after
    (SIG_UNBLOCK, not the mask before): it is started first, so not in between."""
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _budgeted(budget: float, job: Callable[..., T], *args: Any) -> T:
    """``job(*args)`` in a pool process, stopped by SIGPROF after ``budget`` CPU seconds."""
    signal.setitimer(signal.ITIMER_PROF, budget)
    try:
        return job(*args)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _copies(
    html: str,
    messages: list[Message],
    base_url: str,
    flags: dict[str, bool],
    untracked: frozenset[int] = frozenset(),
) -> list[Decorated]:
    assert _tokens is not None
    return decorate_many(
        html, messages, _tokens, base_url, max_links=MAX_LINKS, max_output=MAX_OUTPUT,
        untracked=untracked, **flags
    )  # fmt: skip


def api_answer(
    html: str,
    messages: list[Message],
    base_url: str,
    many: bool,
    flags: dict[str, bool],
    bounce_domain: str = "",
    untracked: frozenset[int] = frozenset(),
) -> tuple[bytes, tuple[tuple[int, str], ...]]:
    """The decorate API's JSON body (encoded here, not in the server) and the links;
    the messages at ``untracked`` positions are decorated untracked (consent)."""
    results = _copies(html, messages, base_url, flags, untracked)
    answers = [answer(r, bounce_domain) for r in results]
    body = json.dumps(answers if many else answers[0]).encode()
    return body, results[0].links


def view_copy(html: str, message: Message, base_url: str, track_clicks: bool) -> str:
    """The "view in browser" copy: links tracked, no pixel, no honeypot."""
    flags = {"track_opens": False, "track_clicks": track_clicks, "honeypot": False}
    return _copies(html, [message], base_url, flags)[0].html


class DecoratePool:
    """Runs decoration jobs in child processes, one server's worth."""

    def __init__(self, secret_keys: Sequence[str], budget: float) -> None:
        self.secret_keys = tuple(secret_keys)
        self.budget = budget
        # Past this, the process is stuck where the budget's signal cannot reach it.
        self.deadline = budget * (MAX_WAITING + 1) * 2 + 10
        self.waiting = 0
        self.closed = False
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
                initargs=(self.secret_keys, os.getpid()),
            )
        return self._executor

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """``job(*args)`` in a pool process; ``OverBudget`` or ``Busy`` when it cannot be."""
        if self.closed or self.waiting >= MAX_WAITING + PROCESSES:
            raise Busy
        self.waiting += 1
        try:
            with _stop_signals_deferred():  # the pool's processes start on first use
                executor = self._pool()
                future = executor.submit(_budgeted, self.budget, job, *args)
            return await asyncio.wait_for(asyncio.wrap_future(future), self.deadline)
        except BrokenProcessPool:
            if executor is self._executor:  # not already replaced, nor stopped
                log.error("decorate process died; starting another")
                self._stop()
            raise Busy from None
        except TimeoutError:
            if executor is self._executor:
                log.error("decorate process stuck; killed", seconds=self.deadline)
                self._stop()
            raise Busy from None
        finally:
            self.waiting -= 1

    def close(self) -> None:
        """Stop for good: calls in progress end as ``Busy``, new ones are ``Busy``."""
        self.closed = True
        self._stop()

    def _stop(self) -> None:
        """Kill the pool's processes (a call may be mid-way) and reap them."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = getattr(executor, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        executor.shutdown(wait=True, cancel_futures=True)


async def stop_decorate_pool(app: web.Application) -> None:
    """At shutdown, before requests in flight are waited for: they answer 503 at once."""
    from tracker.keys import DECORATE_POOL  # not at the top: the pool's processes import this

    app[DECORATE_POOL].close()
