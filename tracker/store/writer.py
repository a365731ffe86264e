"""Group commit: one task owns the writes; every hit waits for the commit that holds it.

Requests append their unit of work to the open group and await the group's single
completion, then read their unit's result. The writer commits whatever queued while the
previous commit ran, so one client is never held back by a timer and a burst becomes a
few large transactions.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from tracker import metrics

T = TypeVar("T")
R = TypeVar("R")


class WriterClosed(RuntimeError):
    """The writer is shutting down and takes no new work."""


class _Completion(asyncio.Future[None]):
    """A group's completion, which no waiter can cancel for the others.

    A waiting request that is cancelled (its client left, the server stops) does not
    cancel the commit: it is woken when the commit ends, and only then sees its own
    ``CancelledError``. This does what ``asyncio.shield`` would without its second future
    and two callbacks per request.
    """

    def cancel(self, msg: object = None) -> bool:
        return False


class _Group(Generic[T, R]):
    __slots__ = ("units", "results", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.units: list[T] = []
        self.results: list[R] = []
        self.done: asyncio.Future[None] = _Completion(loop=loop)


class GroupWriter(Generic[T, R]):
    """Batches units of work into groups of at most ``max_group`` and commits them in order.

    ``commit`` writes a group and returns a result per unit, in order.
    """

    def __init__(self, commit: Callable[[list[T]], Awaitable[list[R]]], max_group: int) -> None:
        self._commit = commit
        self._max_group = max(1, max_group)
        self._groups: deque[_Group[T, R]] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tracker-writer")

    @property
    def depth(self) -> int:
        """Units waiting for a commit."""
        return sum(len(g.units) for g in self._groups)

    def _queue(self, unit: T) -> tuple[_Group[T, R], int]:
        if self._closing:
            raise WriterClosed("the writer is shutting down")
        if not self._groups or len(self._groups[-1].units) >= self._max_group:
            self._groups.append(_Group(asyncio.get_running_loop()))
        group = self._groups[-1]
        group.units.append(unit)
        self._wake.set()
        return group, len(group.units) - 1

    def submit(self, unit: T) -> asyncio.Future[None]:
        """Queue ``unit``; the returned future resolves once it is committed."""
        return self._queue(unit)[0].done

    async def write(self, unit: T) -> R:
        """Queue ``unit`` and return its result once it is durable; raises if its commit
        failed."""
        group, index = self._queue(unit)
        await group.done
        return group.results[index]

    async def close(self) -> None:
        """Take no new work, commit everything queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._groups:
                await self._flush(self._groups.popleft())
            if self._closing:
                return

    async def _flush(self, group: _Group[T, R]) -> None:
        started = time.perf_counter()
        try:
            group.results = await self._commit(group.units)
        except Exception as exc:  # every waiter must learn of the failure
            metrics.COMMIT_ERRORS.inc()
            group.done.set_exception(exc)
            group.done.exception()  # mark retrieved: waiters that left must not warn
        else:
            group.done.set_result(None)
        finally:
            metrics.GROUP_SIZE.observe(len(group.units))
            metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
