"""run_asyncio / run_trio: results, errors, contextvars and cancellation across the bridge."""

from __future__ import annotations

import asyncio
import contextvars
import traceback
from typing import TYPE_CHECKING, Any

import pytest
import sniffio
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def _aio_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def _trio_mul(a: int, b: int) -> int:
    await trio.sleep(0)
    return a * b


def test_run_asyncio_returns_and_passes_arguments() -> None:
    async def main() -> tuple[int, int, str]:
        total = await aiotrio.run_asyncio(_aio_add, 2, 3)
        loop = aiotrio.current_loop()
        # A plain function returning a future (not a coroutine function) works too.
        from_executor = await aiotrio.run_asyncio(loop.run_in_executor, None, sum, [1, 2])
        echoed = await aiotrio.run_asyncio(asyncio.sleep, 0.001, "slept")
        return total, from_executor, echoed

    assert aiotrio.run(main) == (5, 3, "slept")


def test_run_trio_returns_and_passes_arguments(run_aio: Callable[..., Any]) -> None:
    async def main() -> int:
        return await aiotrio.run_trio(_trio_mul, 6, 7)

    assert run_aio(main) == 42


def test_bridges_nest_both_ways() -> None:
    async def aio_outer() -> int:
        return await aiotrio.run_trio(trio_middle)

    async def trio_middle() -> int:
        return await aiotrio.run_asyncio(_aio_add, 40, 2)

    assert aiotrio.run(aiotrio.run_asyncio, aio_outer) == 42


def test_wrong_arguments_and_wrong_places_raise_clear_errors() -> None:
    async def trio_side() -> None:
        coro = _aio_add(1, 2)
        with pytest.raises(TypeError, match="async function"):
            await aiotrio.run_asyncio(coro)  # type: ignore[arg-type]
        coro.close()
        with pytest.raises(TypeError, match="expected an async function"):
            await aiotrio.run_asyncio(lambda: 42)  # type: ignore[arg-type, return-value]

    aiotrio.run(trio_side)

    async def outside_open_loop() -> None:
        await aiotrio.run_asyncio(_aio_add, 1, 2)

    with pytest.raises(RuntimeError, match=r"needs an asyncio loop.*open_loop\(\)"):
        trio.run(outside_open_loop)

    async def from_trio() -> None:
        await aiotrio.run_trio(_trio_mul, 1, 2)

    with pytest.raises(RuntimeError, match="must be called from asyncio code"):
        trio.run(from_trio)
    # On a stock asyncio loop run_trio works: Trio runs as a guest (tests/test_guest.py).


def test_exceptions_cross_with_tracebacks() -> None:
    async def aio_fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async def trio_fails() -> None:
        await trio.sleep(0)
        raise KeyError("from trio")

    async def aio_calls_trio() -> None:
        await aiotrio.run_trio(trio_fails)

    async def main() -> None:
        with pytest.raises(ValueError, match="from asyncio") as info:
            await aiotrio.run_asyncio(aio_fails)
        frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        assert "aio_fails" in frames
        with pytest.raises(KeyError, match="from trio") as info2:
            await aiotrio.run_asyncio(aio_calls_trio)
        frames = [f.name for f in traceback.extract_tb(info2.value.__traceback__)]
        assert frames.index("aio_calls_trio") < frames.index("trio_fails")

    aiotrio.run(main)


def test_exception_groups_cross_both_ways() -> None:
    async def aio_group() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_raise(ValueError("a")))
            tg.create_task(_raise(TypeError("b")))

    async def trio_group() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_raise, OSError("c"))

    async def aio_calls_trio_group() -> BaseExceptionGroup[BaseException]:
        try:
            await aiotrio.run_trio(trio_group)
        except BaseExceptionGroup as group:
            return group
        raise AssertionError("no group")

    async def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            await aiotrio.run_asyncio(aio_group)
        assert sorted(type(e).__name__ for e in info.value.exceptions) == [
            "TypeError",
            "ValueError",
        ]
        group = await aiotrio.run_asyncio(aio_calls_trio_group)
        assert [type(e) for e in group.exceptions] == [OSError]

    aiotrio.run(main)


async def _raise(exc: BaseException) -> None:
    await asyncio.sleep(0) if _in_asyncio() else await trio.sleep(0)
    raise exc


def _in_asyncio() -> bool:

    return sniffio.current_async_library() == "asyncio"


def test_contextvars_flow_across_and_do_not_leak_back() -> None:
    async def aio_side() -> tuple[str, str]:
        seen = var.get()
        var.set("set in asyncio")
        inner = await aiotrio.run_trio(trio_inner)
        return seen, inner

    async def trio_inner() -> str:
        seen = var.get()
        var.set("set in trio inner")
        return seen

    async def main() -> None:
        var.set("set in trio")
        seen, inner = await aiotrio.run_asyncio(aio_side)
        assert seen == "set in trio"
        assert inner == "set in asyncio"
        assert var.get() == "set in trio"

    aiotrio.run(main)


# -- Trio cancels asyncio --------------------------------------------------------


async def _cancel_once_all_wait(scope: trio.CancelScope) -> None:
    """Cancel `scope` once every task (the asyncio side included) waits."""
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


def test_trio_cancel_cancels_the_asyncio_task_and_waits_for_it() -> None:
    events: list[str] = []

    async def aio_work() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("asyncio cancelled")
            for _ in range(3):  # cleanup that takes several iterations
                await asyncio.sleep(0)
            events.append("asyncio cleaned up")
            raise

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as scope:
                nursery.start_soon(_cancel_once_all_wait, scope)
                await aiotrio.run_asyncio(aio_work)
        events.append("trio resumed")
        assert scope.cancelled_caught

    aiotrio.run(main)
    assert events == ["asyncio cancelled", "asyncio cleaned up", "trio resumed"]


def test_trio_sees_the_result_when_asyncio_finished_despite_the_cancel() -> None:
    async def aio_stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "finished anyway"
        return "not cancelled"

    async def main() -> tuple[str, bool]:
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as scope:
                nursery.start_soon(_cancel_once_all_wait, scope)
                result = await aiotrio.run_asyncio(aio_stubborn)
                # The work happened, so no Cancelled from the bridge; the scope is
                # still cancelled, so the next checkpoint raises.
                try:
                    await trio.sleep(0)
                except trio.Cancelled:
                    return result, True
                return result, False
        raise AssertionError("unreachable")

    assert aiotrio.run(main) == ("finished anyway", True)


def test_asyncio_side_cancellation_arrives_as_cancelled_error() -> None:
    async def aio_self_cancelling() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)
        await asyncio.Event().wait()

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await aiotrio.run_asyncio(aio_self_cancelling)

    aiotrio.run(main)


# -- asyncio cancels Trio --------------------------------------------------------


def test_asyncio_cancel_cancels_the_trio_task_and_resumes_after_it_exits(
    run_aio: Callable[..., Any],
) -> None:
    async def main() -> list[str]:
        events: list[str] = []

        async def trio_work() -> None:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                events.append("trio cancelled")
                with trio.CancelScope(shield=True):
                    for _ in range(3):  # cleanup that takes several checkpoints
                        await trio.lowlevel.checkpoint()
                events.append("trio cleaned up")
                raise

        task = asyncio.create_task(aiotrio.run_trio(trio_work))
        await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)
        assert task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            events.append("asyncio resumed")
        assert task.cancelled()
        return events

    assert run_aio(main) == ["trio cancelled", "trio cleaned up", "asyncio resumed"]


def test_a_cancel_that_a_finished_trio_call_absorbed_reaches_the_callers_next_await(
    run_aio: Callable[..., Any],
) -> None:
    """A task looping on Trio calls that finish despite the cancel still ends.

    The call's result stands (the caller gets it), and the request comes again
    at the caller's next await: asyncio.run() and open_loop() cancel each task
    once at shutdown, so an absorbed request would keep them waiting forever.
    """

    async def main() -> tuple[list[str], bool]:
        events: list[str] = []
        in_call = trio.Event()
        cancelled = trio.Event()

        async def finishes_anyway() -> str:
            in_call.set()
            with trio.CancelScope(shield=True):
                await cancelled.wait()
            return "result"

        async def loops_on_trio_calls() -> None:
            while True:
                events.append(await aiotrio.run_trio(finishes_anyway))

        task = asyncio.create_task(loops_on_trio_calls())
        await aiotrio.run_trio(in_call.wait)
        assert task.cancel()
        cancelled.set()
        await asyncio.wait([task])
        return events, task.cancelled()

    events, cancelled = run_aio(main)
    assert cancelled
    assert events == ["result"]  # the absorbed call's result was delivered


def test_a_withdrawn_cancel_is_not_delivered_again(run_aio: Callable[..., Any]) -> None:
    """A request the caller withdrew (uncancel(), as asyncio.timeout() does) stays withdrawn."""

    async def main() -> tuple[str, int]:
        task = asyncio.current_task()
        assert task is not None
        in_call = trio.Event()

        async def finishes_anyway() -> str:
            in_call.set()
            with trio.CancelScope(shield=True):
                await trio.testing.wait_all_tasks_blocked()
            return "result"

        async def cancel_when_in_call() -> None:
            await aiotrio.run_trio(in_call.wait)
            task.cancel()

        canceller = asyncio.create_task(cancel_when_in_call())
        result = await aiotrio.run_trio(finishes_anyway)
        await canceller
        task.uncancel()
        for _ in range(3):  # these awaits must not see the withdrawn request
            await asyncio.sleep(0)
        return result, task.cancelling()

    assert run_aio(main) == ("result", 0)


def test_asyncio_timeout_around_run_trio(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, int]:
        task = asyncio.current_task()
        assert task is not None
        timed_out = False
        try:
            async with asyncio.timeout(0.02):
                await aiotrio.run_trio(trio.sleep_forever)
        except TimeoutError:
            timed_out = True
        return timed_out, task.cancelling()

    assert run_aio(main) == (True, 0)


def test_wait_for_and_shield_around_run_trio(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, int]:
        timed_out = False
        try:
            await asyncio.wait_for(aiotrio.run_trio(trio.sleep_forever), 0.02)
        except TimeoutError:
            timed_out = True
        shielded = asyncio.ensure_future(aiotrio.run_trio(_trio_mul, 3, 3))
        outer = asyncio.ensure_future(asyncio.shield(shielded))
        await asyncio.sleep(0)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        return timed_out, await shielded

    assert run_aio(main) == (True, 9)


async def _stock_taskgroup_cancelling() -> int:
    """What task.cancelling() is after a failed TaskGroup on this Python's stock loop.

    (3.11 and 3.12 leave it at 1; 3.13 fixed that.)
    """

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError

    with pytest.raises(ExceptionGroup):
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.Event().wait())
            tg.create_task(fail())
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


def test_taskgroup_cancels_trio_siblings_when_one_fails(run_aio: Callable[..., Any]) -> None:
    stock_cancelling = asyncio.run(_stock_taskgroup_cancelling())

    async def main() -> list[str]:
        events: list[str] = []

        async def trio_sleeper() -> None:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                events.append("sibling cancelled")
                raise

        async def trio_failer() -> None:
            await trio.testing.wait_all_tasks_blocked()  # the sibling is waiting by now
            raise ValueError("boom")

        with pytest.raises(ExceptionGroup) as info:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(aiotrio.run_trio(trio_sleeper))
                tg.create_task(aiotrio.run_trio(trio_failer))
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == stock_cancelling
        return events

    assert run_aio(main) == ["sibling cancelled"]


def test_trio_call_pending_when_a_hosted_run_stops_is_cancelled() -> None:
    loop = aiotrio.new_event_loop()
    try:
        future = loop.run_until_complete(_start_background_trio_sleep())
        assert not future.done()
        loop.run_until_complete(asyncio.sleep(0))
        assert future.cancelled()
    finally:
        loop.close()


async def _start_background_trio_sleep() -> asyncio.Future[None]:
    future = asyncio.ensure_future(aiotrio.run_trio(trio.sleep_forever))
    await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)  # it has started
    return future


def test_trio_call_waiting_on_asyncio_when_a_hosted_run_stops_ends() -> None:
    """The run's end cancels a Trio call parked in run_asyncio, and releases it.

    The cancel comes first (its wait is asked to go on until the asyncio task
    ends), then the release; the call must not wait again for a task that
    this run will no longer step.
    """
    loop = aiotrio.new_event_loop()
    try:
        future = loop.run_until_complete(_start_trio_call_waiting_on_asyncio())
        assert not future.done()
        loop.run_until_complete(asyncio.sleep(0))
        assert future.cancelled()
    finally:
        loop.close()


async def _start_trio_call_waiting_on_asyncio() -> asyncio.Future[None]:
    async def waits_on_asyncio() -> None:
        await aiotrio.run_asyncio(asyncio.sleep, 3600)

    future = asyncio.ensure_future(aiotrio.run_trio(waits_on_asyncio))
    await aiotrio.run_trio(trio.testing.wait_all_tasks_blocked)  # it waits on asyncio
    return future


def test_trio_as_aio_future_cancel_before_start(run_aio: Callable[..., Any]) -> None:
    async def main() -> bool:
        started = []

        async def never() -> None:
            started.append(1)
            await trio.sleep_forever()

        future = aiotrio.trio_as_aio(never)()
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        return future.cancelled()

    assert run_aio(main) is True


def test_trio_calls_need_a_serving_loop_and_end_once() -> None:
    loop = aiotrio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="is not running inside Trio"):
            aiotrio.trio_as_aio(trio.sleep_forever, loop=loop)()

        async def main() -> tuple[bool, bool, int]:
            call = aiotrio.trio_as_aio(_trio_mul)(6, 7)
            result = await call
            return call.cancel(), call.cancelled(), result  # done: cancel() refuses

        assert loop.run_until_complete(main()) == (False, False, 42)
    finally:
        loop.close()
