"""Group commit: hits queued while a commit runs go together into the next one."""

from __future__ import annotations

import asyncio

import pytest

from tracker.store.writer import GroupWriter, WriterClosed


class Recorder:
    """A commit function that keeps each group and can be made to fail."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.groups: list[list[int]] = []
        self.fail_on = fail_on

    async def __call__(self, units: list[int]) -> list[int]:
        await asyncio.sleep(0.01)  # a commit takes time: others queue meanwhile
        if self.fail_on is not None and self.fail_on in units:
            raise OSError("disk I/O error")
        self.groups.append(list(units))
        return [unit * 10 for unit in units]


async def test_units_queued_during_a_commit_share_the_next_one() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=1000)
    writer.start()
    await asyncio.gather(*(writer.write(i) for i in range(200)))
    await writer.close()
    assert sorted(u for g in commit.groups for u in g) == list(range(200))
    assert len(commit.groups) <= 3, "a burst is a few transactions, not 200"


async def test_each_waiter_gets_its_own_units_result() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=7)
    writer.start()
    results = await asyncio.gather(*(writer.write(i) for i in range(50)))
    await writer.close()
    assert results == [i * 10 for i in range(50)]


async def test_a_lone_unit_is_committed_at_once() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=1000)
    writer.start()
    await asyncio.wait_for(writer.write(1), timeout=1)
    later = asyncio.create_task(writer.write(2))
    await asyncio.wait_for(later, timeout=1)
    await writer.close()
    assert commit.groups == [[1], [2]], "no timer holds a single client back"


async def test_groups_never_exceed_max_group() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=16)
    writer.start()
    await asyncio.gather(*(writer.write(i) for i in range(100)))
    await writer.close()
    assert max(len(g) for g in commit.groups) == 16
    assert [u for g in commit.groups for u in g] == list(range(100)), "order is kept"


async def test_a_failed_commit_fails_exactly_its_own_waiters() -> None:
    commit = Recorder(fail_on=5)
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=4)
    writer.start()
    results = await asyncio.gather(*(writer.write(i) for i in range(12)), return_exceptions=True)
    await writer.close()
    failed = [i for i, r in enumerate(results) if isinstance(r, OSError)]
    assert failed == [4, 5, 6, 7]
    assert [u for g in commit.groups for u in g] == [0, 1, 2, 3, 8, 9, 10, 11]


async def test_close_commits_everything_queued_then_refuses_work() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=1000)
    writer.start()
    pending = [writer.submit(i) for i in range(50)]
    await writer.close()
    assert all(f.done() and f.exception() is None for f in pending)
    assert sum(len(g) for g in commit.groups) == 50
    with pytest.raises(WriterClosed):
        writer.submit(99)


async def test_a_cancelled_waiter_cancels_neither_the_commit_nor_the_others() -> None:
    commit = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(commit, max_group=1000)
    writer.start()
    leaving = asyncio.create_task(writer.write(1))
    staying = asyncio.create_task(writer.write(2))
    await asyncio.sleep(0)  # both queued in one group
    leaving.cancel()
    await staying  # the group's commit completes for the one that stayed
    with pytest.raises(asyncio.CancelledError):
        await leaving  # woken after the commit, then cancelled
    await writer.close()
    assert [u for g in commit.groups for u in g] == [1, 2]
