"""Opening and closing loops: many times, nested, side by side, cancelled, leak-free."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import trio

import aiotrio


async def _running_loop() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0)
    return asyncio.get_running_loop()


def test_leaving_the_block_cancels_tasks_and_waits_for_them() -> None:
    events: list[str] = []

    async def slow_to_die() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.02)  # still running after the cancel
            events.append("task finished its cleanup")
            raise

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            task = loop.create_task(slow_to_die())
            await trio.sleep(0.01)
        events.append("block exited")
        assert task.cancelled()
        assert loop.is_closed()

    trio.run(main)
    assert events == ["task finished its cleanup", "block exited"]


def test_leaving_the_block_cancels_trio_calls_and_waits_for_them() -> None:
    events: list[str] = []

    async def trio_side() -> None:
        try:
            await trio.sleep(10)
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.02)
            events.append("trio call unwound")

    async def aio_starts_background_trio_call() -> None:
        asyncio.ensure_future(aiotrio.run_trio(trio_side))
        await asyncio.sleep(0)

    async def main() -> None:
        async with aiotrio.open_loop():
            await aiotrio.run_asyncio(aio_starts_background_trio_call)
            await trio.sleep(0.01)
        events.append("block exited")

    trio.run(main)
    assert events == ["trio call unwound", "block exited"]


def test_default_executor_threads_are_joined_at_exit() -> None:
    async def main() -> None:
        before = threading.active_count()
        async with aiotrio.open_loop() as loop:
            await aiotrio.run_asyncio(loop.run_in_executor, None, sum, [1])
            assert threading.active_count() > before
        assert threading.active_count() == before

    trio.run(main)


def test_open_and_close_many_times() -> None:
    async def main() -> None:
        loops = []
        for _ in range(50):
            async with aiotrio.open_loop() as loop:
                assert await aiotrio.run_asyncio(_running_loop) is loop
                loops.append(loop)
            assert loop.is_closed()
        assert len(set(map(id, loops))) == 50

    trio.run(main)


def test_hosted_loop_runs_many_times_then_closes() -> None:
    loop = aiotrio.new_event_loop()
    try:
        for i in range(50):
            assert loop.run_until_complete(asyncio.sleep(0, i)) == i
    finally:
        loop.close()


def test_nested_loops_are_independent() -> None:
    async def main() -> None:
        async with aiotrio.open_loop() as outer:
            assert aiotrio.current_loop() is outer
            async with aiotrio.open_loop() as inner:
                assert inner is not outer
                assert aiotrio.current_loop() is inner
                assert await aiotrio.run_asyncio(_running_loop) is inner
                assert await aiotrio.aio_as_trio(_running_loop, loop=outer)() is outer
            assert inner.is_closed() and not outer.is_closed()
            assert aiotrio.current_loop() is outer
            assert await aiotrio.run_asyncio(_running_loop) is outer

    trio.run(main)


def test_side_by_side_loops_run_concurrently() -> None:
    async def ping_pong(label: str, results: dict[str, Any]) -> None:
        async with aiotrio.open_loop() as loop:

            async def work() -> int:
                total = 0
                for _ in range(20):
                    await asyncio.sleep(0.001)
                    assert asyncio.get_running_loop() is loop
                    total += 1
                return total

            results[label] = await aiotrio.run_asyncio(work)

    async def main() -> dict[str, Any]:
        results: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            for label in "abc":
                nursery.start_soon(ping_pong, label, results)
        return results

    assert trio.run(main) == {"a": 20, "b": 20, "c": 20}


def test_body_exceptions_propagate_unwrapped() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            raise ValueError("from the body")

    with pytest.raises(ValueError, match="from the body"):
        trio.run(main)


def test_body_exception_groups_are_not_unwrapped() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            raise ExceptionGroup("mine", [ValueError("one")])

    with pytest.raises(ExceptionGroup, match="mine"):
        trio.run(main)


def test_cancelling_the_block_cancels_asyncio_tasks_the_asyncio_way() -> None:
    events: list[str] = []

    async def aio_work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("asyncio task got CancelledError")
            await asyncio.sleep(0.01)
            raise

    async def main() -> None:
        with trio.move_on_after(0.02) as scope:
            async with aiotrio.open_loop() as loop:
                loop.create_task(aio_work())
                await trio.sleep(10)
        assert scope.cancelled_caught
        events.append("outer scope caught the cancel")

    trio.run(main)
    assert events == ["asyncio task got CancelledError", "outer scope caught the cancel"]


def test_open_loop_outside_trio_is_an_error() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            pass

    coro = main()
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()


def test_both_readiness_backends_can_be_chosen() -> None:
    async def main() -> list[str]:
        names = []
        for name in ("selector", "trio"):
            async with aiotrio.open_loop(readiness=name) as loop:
                names.append(loop.readiness)
                assert await aiotrio.run_asyncio(asyncio.sleep, 0.001, "ok") == "ok"
        return names

    assert trio.run(main) == ["selector", "trio"]
    with pytest.raises(ValueError, match="unknown readiness backend"):
        aiotrio.new_event_loop(readiness="bogus")


def _child_runs_a_loop(results: Any) -> None:
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        results.put(runner.run(asyncio.sleep(0, "child ran its own loop")))


def test_a_child_forked_inside_a_running_loop_can_run_loops() -> None:
    """asyncio code forks (a "fork" multiprocessing start): the child starts afresh."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")

    async def main() -> tuple[Any, int | None]:
        results = fork.SimpleQueue()
        child = fork.Process(target=_child_runs_a_loop, args=(results,))
        child.start()
        await asyncio.to_thread(child.join, 30)
        got = results.get() if not results.empty() else None
        results.close()
        return got, child.exitcode

    assert aiotrio.run(aiotrio.run_asyncio, main) == ("child ran its own loop", 0)
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == ("child ran its own loop", 0)


def test_a_mock_clock_for_hosted_runs() -> None:
    import trio.testing

    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    with asyncio.Runner(loop_factory=lambda: aiotrio.new_event_loop(clock=clock)) as runner:
        assert runner.run(main()) >= 3600
