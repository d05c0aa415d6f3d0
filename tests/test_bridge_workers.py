"""run_trio's bridge workers: long-lived Trio tasks that run the calls of one loop.

A call runs on an idle worker (no new Trio task), in a copy of the caller's
context, under the callee's name; cancelling one call never reaches another
call or the next call of the same worker; no worker outlives the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio
from aiotrio._bridges import IDLE_WORKER_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


class _Spawns(trio.abc.Instrument):
    """Counts the Trio tasks spawned and exited while it is installed."""

    def __init__(self) -> None:
        self.spawned: list[trio.lowlevel.Task] = []
        self.exited: list[trio.lowlevel.Task] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned.append(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.exited.append(task)


async def _whoami() -> tuple[trio.lowlevel.Task, str]:
    await trio.lowlevel.checkpoint()
    task = trio.lowlevel.current_task()
    return task, task.name


def _bridges() -> Any:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, aiotrio.EventLoop)
    return loop._trio.bridges


def test_sequential_calls_reuse_one_worker_without_spawning(run_aio: Callable[..., Any]) -> None:
    async def main() -> None:
        first, name = await aiotrio.run_trio(_whoami)
        assert name == f"{__name__}._whoami"
        spawns = _Spawns()
        trio.lowlevel.add_instrument(spawns)
        try:
            seen = [await aiotrio.run_trio(_whoami) for _ in range(5)]
        finally:
            trio.lowlevel.remove_instrument(spawns)
        assert spawns.spawned == []
        assert {task for task, _ in seen} == {first}
        assert {name for _, name in seen} == {f"{__name__}._whoami"}
        # Between calls the worker waits, under a name of its own.
        assert [task.name for task in _bridges().idle_workers()] == [IDLE_WORKER_NAME]

    run_aio(main)


def test_each_call_sees_its_callers_context_and_changes_stay_there(
    run_aio: Callable[..., Any],
) -> None:
    async def trio_side(value: str) -> tuple[str, str]:
        seen = var.get()
        var.set(f"set by the call for {value}")
        await trio.lowlevel.checkpoint()
        return seen, var.get()

    async def caller(value: str) -> tuple[str, str, str]:
        var.set(value)
        seen, inside = await aiotrio.run_trio(trio_side, value)
        return seen, inside, var.get()

    async def main() -> list[tuple[str, str, str]]:
        # One after the other (one worker), then a task that set nothing.
        results = [await asyncio.create_task(caller(value)) for value in ("a", "b")]
        seen, inside = await aiotrio.run_trio(trio_side, "none")
        results.append((seen, inside, var.get()))
        return results

    assert run_aio(main) == [
        ("a", "set by the call for a", "a"),
        ("b", "set by the call for b", "b"),
        ("unset", "set by the call for none", "unset"),
    ]


def test_cancelling_one_of_several_calls_in_flight_cancels_only_that_one(
    run_aio: Callable[..., Any],
) -> None:
    async def main() -> tuple[list[Any], list[str]]:
        events: list[str] = []
        release = trio.Event()

        async def trio_call(index: int) -> int:
            try:
                await release.wait()
            except trio.Cancelled:
                events.append(f"{index} cancelled")
                raise
            return index

        # Idle workers first, so that the calls run on reused workers.
        await asyncio.gather(*(aiotrio.run_trio(trio.lowlevel.checkpoint) for _ in range(3)))
        tasks = [asyncio.create_task(aiotrio.run_trio(trio_call, i)) for i in range(3)]
        await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)
        tasks[1].cancel()
        await asyncio.wait([tasks[1]])
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # The worker that ran the cancelled call runs the next calls uncancelled.
        again = await asyncio.gather(*(aiotrio.run_trio(_checkpoints, i) for i in range(3)))
        return [*results, *again], events

    results, events = run_aio(main)
    assert results[0] == 0
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2:] == [2, 0, 1, 2]
    assert events == ["1 cancelled"]


async def _checkpoints(value: int) -> int:
    for _ in range(3):
        await trio.lowlevel.checkpoint()
    return value


def test_a_call_that_finishes_anyway_leaves_its_worker_usable(run_aio: Callable[..., Any]) -> None:
    async def stubborn() -> str:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            return "finished anyway"
        raise AssertionError("unreachable")

    async def main() -> tuple[str, trio.lowlevel.Task, trio.lowlevel.Task, int]:
        worker, _ = await aiotrio.run_trio(_whoami)
        call = aiotrio.trio_as_aio(stubborn)()
        await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)
        assert call.cancel()
        result = await call
        again, _ = await aiotrio.run_trio(_whoami)
        return result, worker, again, await aiotrio.run_trio(_checkpoints, 7)

    result, worker, again, value = run_aio(main)
    assert result == "finished anyway"
    assert again is worker
    assert value == 7


def test_a_raising_callee_reaches_its_caller_and_the_worker_goes_on(
    run_aio: Callable[..., Any],
) -> None:
    class Custom(BaseException):
        pass

    async def fails(exc: BaseException) -> None:
        await trio.lowlevel.checkpoint()
        raise exc

    async def group() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fails, ValueError("in a nursery"))

    async def main() -> set[trio.lowlevel.Task]:
        workers = {(await aiotrio.run_trio(_whoami))[0]}
        with pytest.raises(KeyError, match="plain"):
            await aiotrio.run_trio(fails, KeyError("plain"))
        workers.add((await aiotrio.run_trio(_whoami))[0])
        with pytest.raises(Custom):
            await aiotrio.run_trio(fails, Custom())
        workers.add((await aiotrio.run_trio(_whoami))[0])
        with pytest.raises(ExceptionGroup) as info:
            await aiotrio.run_trio(group)
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        workers.add((await aiotrio.run_trio(_whoami))[0])
        return workers

    assert len(run_aio(main)) == 1


def test_a_call_cancelled_before_it_starts_on_an_idle_worker_never_runs(
    run_aio: Callable[..., Any],
) -> None:
    async def main() -> tuple[list[str], bool, int]:
        started: list[str] = []

        async def never() -> None:
            started.append("started")

        await aiotrio.run_trio(trio.lowlevel.checkpoint)  # a worker is idle now
        future = aiotrio.trio_as_aio(never)()
        assert future.cancel()
        await asyncio.wait([future])
        return started, future.cancelled(), await aiotrio.run_trio(_checkpoints, 3)

    assert run_aio(main) == ([], True, 3)


def test_a_burst_of_calls_leaves_a_bounded_pool_and_no_worker_outlives_the_loop() -> None:
    spawns = _Spawns()

    async def main() -> int:
        trio.lowlevel.add_instrument(spawns)
        release = trio.Event()

        async def blocked() -> None:
            await release.wait()

        calls = [asyncio.ensure_future(aiotrio.run_trio(blocked)) for _ in range(20)]
        await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)
        release.set()
        await asyncio.gather(*calls)
        await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)
        return len(list(_bridges().idle_workers()))

    async def trio_main() -> None:
        async with aiotrio.open_loop():
            idle = await aiotrio.run_asyncio(main)
            # 21 workers ran (the 20 blocked calls, and the call that waited
            # for them); those beyond the idle limit have exited already.
            assert 0 < idle < 20
            workers = [task for task in spawns.spawned if task.name != "<init>"]
            assert len(workers) - len(spawns.exited) == idle
        # The loop is closed: every worker has exited.
        assert set(spawns.exited) >= set(workers)

    trio.run(trio_main)


def test_idle_workers_are_left_out_of_the_task_tree() -> None:
    async def main() -> str:
        await aiotrio.run_trio(trio.lowlevel.checkpoint)
        assert list(_bridges().idle_workers())
        return aiotrio.format_task_tree()

    text = aiotrio.run(aiotrio.run_asyncio, main)
    assert IDLE_WORKER_NAME not in text
    assert "aiotrio loop <EventLoop running=True" in text


# -- the worker runs the parked driver's batch ------------------------------------------


class _Steps(trio.abc.Instrument):
    """Counts the steps each Trio task takes while it is installed."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] = self.steps.get(task, 0) + 1


async def _nothing() -> None:
    pass


async def _until_in_a_workers_batch() -> trio.lowlevel.Task:
    """Call run_trio in turn until this asyncio code runs in a worker's batch; the worker.

    The driver parks for the first call Trio runs it before the worker
    (Trio orders its batches at random: half the time); from then on, the
    calls' workers run its batches. 100 calls all in the other order would
    be a chance of 2**-100.
    """
    for _ in range(100):
        await aiotrio.run_trio(_nothing)
        task = trio.lowlevel.current_task()
        if task.name == IDLE_WORKER_NAME:
            return task
    raise AssertionError("the driver never parked for a call")


def test_calls_in_turn_keep_the_driver_parked_and_cost_the_worker_one_step(
    run_aio: Callable[..., Any],
) -> None:
    """asyncio code calling run_trio in turn: the worker that ends a call runs the
    batch its result makes (the caller's next call included), so the driver stays
    parked and each call is one Trio step of the worker."""
    calls = 200

    async def main() -> tuple[dict[trio.lowlevel.Task, int], trio.lowlevel.Task]:
        worker = await _until_in_a_workers_batch()
        steps = _Steps()
        trio.lowlevel.add_instrument(steps)
        try:
            for _ in range(calls):
                await aiotrio.run_trio(_nothing)
        finally:
            trio.lowlevel.remove_instrument(steps)
        return steps.steps, worker

    steps, worker = run_aio(main)
    assert calls <= steps.pop(worker) <= calls + 2, steps
    # No other task (the driver above all) steps per call.
    assert sum(steps.values()) <= 4, steps


def test_a_batch_run_by_a_worker_arms_the_parked_drivers_timer() -> None:
    """A timer that asyncio code adds in a worker's batch wakes the parked driver:
    on the kernel timer (real clock) and on the park deadline (MockClock)."""

    async def main() -> float:
        loop = asyncio.get_running_loop()
        await _until_in_a_workers_batch()
        start = loop.time()
        await asyncio.sleep(0.05)
        return loop.time() - start

    async def in_trio() -> float:
        with trio.fail_after(10):
            async with aiotrio.open_loop():
                elapsed: float = await aiotrio.run_asyncio(main)
                return elapsed

    assert trio.run(in_trio) >= 0.05
    assert trio.run(in_trio, clock=trio.testing.MockClock(autojump_threshold=0)) >= 0.05


def test_what_escapes_a_callback_in_a_workers_batch_ends_run_until_complete() -> None:
    """SystemExit from an asyncio task's step that a worker's batch ran reaches the
    caller of run_until_complete, as from a batch of the driver's own."""
    where: list[str] = []

    async def main() -> None:
        await _until_in_a_workers_batch()
        where.append(trio.lowlevel.current_task().name)
        raise SystemExit(3)

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        with pytest.raises(SystemExit) as info:
            runner.run(main())
        assert info.value.code == 3
        assert where == [IDLE_WORKER_NAME]
        # The loop still runs.
        assert runner.run(aiotrio.run_trio(_checkpoints, 5)) == 5


def test_a_call_handed_to_a_worker_during_its_batch_and_cancelled_never_runs(
    run_aio: Callable[..., Any],
) -> None:
    """The worker that runs the driver's batch takes the call that batch hands it
    after the batch; cancelled before that, the call never starts."""

    async def main() -> tuple[list[str], bool, bool, int]:
        started: list[str] = []

        async def never() -> None:
            started.append("started")

        worker = await _until_in_a_workers_batch()
        future = aiotrio.trio_as_aio(never)()
        assert future.trio_task is worker  # handed to the batching worker
        assert future.cancel()
        await asyncio.wait([future])
        return (
            started,
            future.cancelled(),
            future.trio_task is worker,
            await aiotrio.run_trio(_checkpoints, 3),
        )

    assert run_aio(main) == ([], True, True, 3)


def test_a_run_forever_stopped_in_a_workers_batch_returns() -> None:
    async def main() -> int:
        total = 0
        for value in range(10):
            total += await aiotrio.run_trio(_checkpoints, value)
        return total

    for _ in range(3):  # the loop runs again after each stop
        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            assert runner.run(main()) == 45
            assert runner.run(main()) == 45
