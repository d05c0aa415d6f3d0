"""Opening and closing loops: many times, nested, side by side, cancelled, leak-free."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from typing import Any

import pytest
import trio
import trio.testing

import aiotrio


async def _running_loop() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0)
    return asyncio.get_running_loop()


def test_leaving_the_block_cancels_tasks_and_waits_for_them() -> None:
    events: list[str] = []

    async def slow_to_die() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            for _ in range(3):  # still running after the cancel, over several iterations
                await asyncio.sleep(0)
            events.append("task finished its cleanup")
            raise

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            task = loop.create_task(slow_to_die())
            await trio.testing.wait_all_tasks_blocked()
        events.append("block exited")
        assert task.cancelled()
        assert loop.is_closed()

    trio.run(main)
    assert events == ["task finished its cleanup", "block exited"]


def test_leaving_the_block_cancels_trio_calls_and_waits_for_them() -> None:
    events: list[str] = []

    async def trio_side() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                for _ in range(3):  # still running after the cancel
                    await trio.lowlevel.checkpoint()
            events.append("trio call unwound")

    async def aio_starts_background_trio_call() -> asyncio.Task[None]:
        task = asyncio.ensure_future(aiotrio.run_trio(trio_side))
        await asyncio.sleep(0)
        return task

    async def main() -> None:
        async with aiotrio.open_loop():
            task = await aiotrio.run_asyncio(aio_starts_background_trio_call)
            await trio.testing.wait_all_tasks_blocked()
        events.append("block exited")
        assert task.cancelled()

    trio.run(main)
    assert events == ["trio call unwound", "block exited"]


def test_orphaned_trio_calls_are_cancelled_at_block_exit() -> None:
    """``trio_as_aio(fn)(...)`` futures nobody awaits (no asyncio task to cancel): the block
    ends them.

    One of them starts another Trio call while it unwinds; that one is ended too.
    """
    events: list[str] = []

    async def trio_side(name: str, loop: aiotrio.EventLoop) -> None:
        try:
            await trio.sleep_forever()
        finally:
            events.append(f"{name} unwound")
            if name == "first":
                late.append(loop.call_soon(_start_late_call, loop))

    def _start_late_call(loop: aiotrio.EventLoop) -> None:
        late.append(aiotrio.trio_as_aio(trio_side)("late", loop))

    late: list[Any] = []

    async def start_calls() -> list[asyncio.Future[None]]:
        loop = asyncio.get_running_loop()
        return [aiotrio.trio_as_aio(trio_side)(name, loop) for name in ("first", "second")]

    async def main() -> list[asyncio.Future[None]]:
        async with aiotrio.open_loop():
            calls = await aiotrio.run_asyncio(start_calls)
            await trio.testing.wait_all_tasks_blocked()
            assert events == []
        return calls

    calls = trio.run(main)
    assert [call.cancelled() for call in calls] == [True, True]
    assert late[1].cancelled()
    assert sorted(events) == ["first unwound", "late unwound", "second unwound"]


def test_trio_code_waiting_on_an_asyncio_future_is_released_when_the_block_exits() -> None:
    """A Trio task outside the block, parked on one of its futures, is not left parked."""

    class Unstoppable(asyncio.Future[None]):
        """A future that ignores cancel(), as one whose cancellation takes time does."""

        def cancel(self, msg: Any = None) -> bool:
            return False

    outcomes: dict[str, object] = {}

    async def wait_on(name: str, future: asyncio.Future[None], loop: aiotrio.EventLoop) -> None:
        try:
            await aiotrio.aio_as_trio(future, loop=loop)
        except RuntimeError as exc:
            outcomes[name] = exc

    async def wait_cancelled(future: asyncio.Future[None], loop: aiotrio.EventLoop) -> None:
        with trio.CancelScope() as scope:
            cancel_scopes.append(scope)
            await aiotrio.aio_as_trio(future, loop=loop)
        outcomes["cancelled"] = scope.cancelled_caught

    cancel_scopes: list[trio.CancelScope] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery, aiotrio.open_loop() as loop:
            nursery.start_soon(wait_on, "plain", loop.create_future(), loop)
            nursery.start_soon(wait_cancelled, Unstoppable(loop=loop), loop)
            await trio.testing.wait_all_tasks_blocked()
            cancel_scopes[0].cancel()  # asks the future to cancel, which it ignores
            await trio.testing.wait_all_tasks_blocked()
            assert outcomes == {}

    trio.run(main)
    plain = outcomes.pop("plain")
    assert isinstance(plain, RuntimeError)
    assert "stopped before this call finished" in str(plain)
    assert outcomes == {"cancelled": True}  # its cancellation arrived once released


def test_loop_stop_inside_open_loop_is_ignored() -> None:
    """``open_loop()`` owns the loop's lifetime: stop() ends no run_forever, the loop serves on."""

    async def stop_then_keep_working() -> list[str]:
        loop = asyncio.get_running_loop()
        done: list[str] = []
        loop.stop()
        await asyncio.sleep(0)
        loop.call_soon(done.append, "callback after stop()")
        await asyncio.sleep(0)
        done.append("task after stop()")
        return done

    async def main() -> list[str]:
        async with aiotrio.open_loop() as loop:
            first = await aiotrio.run_asyncio(stop_then_keep_working)
            await trio.testing.wait_all_tasks_blocked()  # the driver is parked now
            loop.stop()  # from Trio code, with the loop idle
            second = await aiotrio.run_asyncio(stop_then_keep_working)
            assert loop.is_running()
        assert loop.is_closed()
        return first + second

    assert trio.run(main) == ["callback after stop()", "task after stop()"] * 2


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
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("asyncio task got CancelledError")
            await asyncio.sleep(0)
            raise

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with aiotrio.open_loop() as loop:
                loop.create_task(aio_work())
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
                await trio.sleep_forever()
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
                assert await aiotrio.run_asyncio(asyncio.sleep, 0, "ok") == "ok"
        return names

    assert trio.run(main) == ["selector", "trio"]
    with pytest.raises(ValueError, match="unknown readiness backend"):
        aiotrio.new_event_loop(readiness="bogus")


def _child_runs_a_loop(results: Any) -> None:
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        results.put(runner.run(asyncio.sleep(0, "child ran its own loop")))


def test_a_child_forked_inside_a_running_loop_can_run_loops() -> None:
    """asyncio code forks (a "fork" multiprocessing start): the child starts afresh."""

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
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    with asyncio.Runner(loop_factory=lambda: aiotrio.new_event_loop(clock=clock)) as runner:
        assert runner.run(main()) >= 3600
