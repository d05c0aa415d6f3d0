"""aiotrio.trio_asyncio: trio-asyncio 0.16's names and behaviours, as its users rely on them."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest
import sniffio
import trio
import trio.testing

import aiotrio
from aiotrio import trio_asyncio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: trio-asyncio 0.16's public names (its __init__), minus allow_asyncio.
TRIO_ASYNCIO_NAMES = {
    "BaseTrioEventLoop",
    "TrioAsyncioDeprecationWarning",
    "TrioEventLoop",
    "TrioExecutor",
    "aio_as_trio",
    "asyncio_as_trio",
    "current_loop",
    "open_loop",
    "run",
    "run_aio_coroutine",
    "run_aio_future",
    "run_aio_generator",
    "run_trio",
    "run_trio_task",
    "trio_as_aio",
    "trio_as_asyncio",
}


async def aio_double(x: int) -> int:
    await asyncio.sleep(0)
    assert sniffio.current_async_library() == "asyncio"
    return 2 * x


async def trio_triple(x: int) -> int:
    await trio.sleep(0)
    assert sniffio.current_async_library() == "trio"
    return 3 * x


# -- names -----------------------------------------------------------------------------


def test_every_public_name_of_trio_asyncio_is_there_except_allow_asyncio() -> None:
    assert set(trio_asyncio.__all__) == TRIO_ASYNCIO_NAMES
    for name in TRIO_ASYNCIO_NAMES:
        assert getattr(trio_asyncio, name) is not None, name
    assert not hasattr(trio_asyncio, "allow_asyncio")
    assert trio_asyncio.asyncio_as_trio is trio_asyncio.aio_as_trio is aiotrio.aio_as_trio
    assert trio_asyncio.trio_as_asyncio is trio_asyncio.trio_as_aio is aiotrio.trio_as_aio
    assert issubclass(trio_asyncio.TrioEventLoop, trio_asyncio.BaseTrioEventLoop)
    assert issubclass(trio_asyncio.BaseTrioEventLoop, aiotrio.EventLoop)
    assert issubclass(trio_asyncio.TrioEventLoop, asyncio.SelectorEventLoop)
    assert issubclass(trio_asyncio.TrioAsyncioDeprecationWarning, FutureWarning)
    assert trio_asyncio.TrioEventLoop.__module__ == "aiotrio.trio_asyncio"


def test_aiotrio_itself_is_unchanged_by_importing_the_module() -> None:
    # aiotrio's own open_loop still makes plain aiotrio loops.
    async def main() -> type:
        async with aiotrio.open_loop() as loop:
            return type(loop)

    assert trio.run(main) is aiotrio.EventLoop


# -- open_loop, run, current_loop --------------------------------------------------------


def test_run_opens_a_trio_event_loop_and_current_loop_finds_it() -> None:
    seen: dict[str, Any] = {}

    async def in_asyncio() -> None:
        seen["asyncio"] = trio_asyncio.current_loop.get()

    async def in_trio_task() -> None:
        seen["trio task"] = trio_asyncio.current_loop.get()

    async def main(x: int) -> int:
        loop = trio_asyncio.current_loop.get()
        seen["trio"] = loop
        await trio_asyncio.aio_as_trio(in_asyncio)()
        await trio_asyncio.run_aio_future(loop.trio_as_future(in_trio_task))
        return x + 1

    assert trio_asyncio.current_loop.get() is None
    assert trio_asyncio.run(main, 41) == 42
    loop = seen["trio"]
    assert isinstance(loop, trio_asyncio.TrioEventLoop)
    assert seen["asyncio"] is loop
    assert seen["trio task"] is loop
    assert loop.is_closed()
    assert trio_asyncio.current_loop.get("outside") == "outside"


def test_exceptions_leave_open_loop_in_a_group_as_from_a_nursery() -> None:
    async def main() -> None:
        async with trio_asyncio.open_loop():
            raise ValueError("from the block")

    with pytest.raises(ExceptionGroup) as caught:
        trio.run(main)
    assert [type(e) for e in caught.value.exceptions] == [ValueError]
    assert str(caught.value.exceptions[0]) == "from the block"


def test_cancelling_the_block_is_not_wrapped() -> None:
    async def main() -> bool:
        with trio.move_on_after(1) as scope:
            async with trio_asyncio.open_loop():
                await trio.sleep_forever()
        return scope.cancelled_caught

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) is True


def test_queue_len_is_accepted() -> None:
    async def main() -> int:
        async with trio_asyncio.open_loop(queue_len=10) as loop:
            return await loop.run_aio_coroutine(aio_double(5))

    assert trio.run(main) == 10


# -- asyncio from Trio ----------------------------------------------------------------------


class Thing:
    """Methods adapted with decorators, as trio-asyncio's users write them."""

    def __init__(self) -> None:
        self.flags: list[str] = []

    @trio_asyncio.aio_as_trio
    async def aio_method(self, x: int) -> int:
        await asyncio.sleep(0)
        self.flags.append(sniffio.current_async_library())
        return x

    @trio_asyncio.trio_as_aio
    async def trio_method(self) -> int:
        await trio.sleep(0)
        self.flags.append(sniffio.current_async_library())
        return 8


def test_adapters_as_decorators_and_uncalled() -> None:
    async def main() -> list[Any]:
        thing = Thing()
        by_decorator = await thing.aio_method(4)
        # An uncalled function is called with no arguments, in asyncio.
        uncalled_trio = await trio_asyncio.aio_as_trio(thing.trio_method)
        # A plain function is called in asyncio, so it may need the running loop.
        uncalled_aio = await trio_asyncio.aio_as_trio(lambda: asyncio.ensure_future(aio_double(5)))
        return [by_decorator, uncalled_trio, uncalled_aio, thing.flags]

    assert trio_asyncio.run(main) == [4, 8, 10, ["asyncio", "trio"]]


def test_aio_as_trio_on_awaitables_futures_and_sync_functions_returning_futures() -> None:
    async def main() -> list[int]:
        loop = trio_asyncio.current_loop.get()
        results = [await trio_asyncio.aio_as_trio(aio_double(1))]
        task = loop.create_task(aio_double(2))
        results.append(await trio_asyncio.aio_as_trio(task))
        results.append(await trio_asyncio.aio_as_trio(loop.run_in_executor)(None, sum, [3, 3]))
        return results

    assert trio_asyncio.run(main) == [2, 4, 6]


def test_run_aio_coroutine_runs_on_the_loop_and_takes_futures_too() -> None:
    async def where() -> tuple[str, Any]:
        await asyncio.sleep(0)
        return sniffio.current_async_library(), asyncio.get_running_loop()

    async def main() -> None:
        loop = trio_asyncio.current_loop.get()
        assert await loop.run_aio_coroutine(where()) == ("asyncio", loop)
        assert await trio_asyncio.run_aio_coroutine(aio_double(3)) == 6
        future = loop.run_in_executor(None, threading.get_ident)
        assert await loop.run_aio_coroutine(future) != threading.get_ident()

    trio_asyncio.run(main)


def test_run_aio_coroutine_refuses_and_closes_the_coroutine() -> None:
    async def main() -> None:
        coro = aio_double(1)
        with pytest.raises(RuntimeError, match="not within a trio_asyncio loop"):
            await trio_asyncio.run_aio_coroutine(coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

        async with trio_asyncio.open_loop() as loop:
            await loop.stop().wait()
            loop.close()
            coro = aio_double(1)
            with pytest.raises(RuntimeError, match="Event loop is closed"):
                await loop.run_aio_coroutine(coro)
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    trio.run(main)


def test_run_aio_future_outcomes_and_cancellation() -> None:
    async def main() -> None:
        loop = trio_asyncio.current_loop.get()
        done: asyncio.Future[int] = loop.create_future()
        loop.call_soon(done.set_result, 7)
        assert await trio_asyncio.run_aio_future(done) == 7
        assert await loop.run_aio_future(done) == 7

        failed: asyncio.Future[int] = loop.create_future()
        failed.set_exception(KeyError("k"))
        with pytest.raises(KeyError):
            await trio_asyncio.run_aio_future(failed)

        # Cancelled by Trio: the future is cancelled, Trio sees Cancelled.
        pending: asyncio.Future[int] = loop.create_future()
        with trio.move_on_after(1) as scope:
            await trio_asyncio.run_aio_future(pending)
        assert scope.cancelled_caught
        assert pending.cancelled()

        # Cancelled on the asyncio side only: CancelledError, as asyncio raised it.
        other: asyncio.Future[int] = loop.create_future()
        loop.call_soon(other.cancel)
        with pytest.raises(asyncio.CancelledError):
            await trio_asyncio.run_aio_future(other)

    trio_asyncio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_run_aio_future_refuses_a_future_of_another_loop() -> None:
    stock = asyncio.new_event_loop()
    try:
        future = stock.create_future()
        with pytest.raises(RuntimeError, match="future of an aiotrio loop"):
            trio.run(trio_asyncio.run_aio_future, future)
    finally:
        stock.close()


def test_run_aio_generator_iterates_fails_and_cancels() -> None:
    stopped_at: list[str] = []

    async def numbers(fail: bool) -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(0)
        yield 2
        if fail:
            raise RuntimeError("owie")

    async def stuck(hold: asyncio.Event) -> AsyncIterator[int]:
        yield 1
        try:
            await hold.wait()
        except asyncio.CancelledError:
            stopped_at.append("cancelled while waiting")
            raise
        yield 2  # pragma: no cover (never reached)

    async def main() -> None:
        loop = trio_asyncio.current_loop.get()
        assert [n async for n in trio_asyncio.run_aio_generator(loop, numbers(False))] == [1, 2]
        got = []
        with pytest.raises(RuntimeError, match="owie"):
            async for n in trio_asyncio.run_aio_generator(loop, numbers(True)):
                got.append(n)
        assert got == [1, 2]

        hold = asyncio.Event()
        agen = stuck(hold)
        items = []
        async with trio.open_nursery() as nursery:

            async def consume() -> None:
                async for n in trio_asyncio.run_aio_generator(loop, agen):
                    items.append(n)

            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert items == [1]
        assert stopped_at == ["cancelled while waiting"]

    trio_asyncio.run(main)


# -- Trio from asyncio (and from anywhere) ------------------------------------------------------


def test_trio_as_future_from_trio_asyncio_and_plain_callbacks() -> None:
    async def main() -> list[int]:
        loop = trio_asyncio.current_loop.get()
        results = [await loop.run_aio_future(loop.trio_as_future(trio_triple, 1))]

        async def from_asyncio() -> int:
            return await trio_asyncio.run_trio(trio_triple, 2)

        results.append(await trio_asyncio.aio_as_trio(from_asyncio)())
        futures: list[asyncio.Future[int]] = []
        loop.call_soon(lambda: futures.append(loop.trio_as_future(trio_triple, 3)))
        await loop.synchronize()
        results.append(await loop.run_aio_future(futures[0]))
        return results

    assert trio_asyncio.run(main) == [3, 6, 9]


def test_trio_as_future_errors_and_cancel() -> None:
    unwound: list[str] = []

    async def fails() -> None:
        await trio.sleep(0)
        raise ValueError("hi")

    async def sleeper() -> None:
        try:
            await trio.sleep_forever()
        finally:
            unwound.append("sleeper")

    async def raises_while_unwinding() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise KeyError("while unwinding")

    async def main() -> None:
        loop = trio_asyncio.current_loop.get()
        with pytest.raises(ValueError, match="hi"):
            await loop.run_aio_future(loop.trio_as_future(fails))

        future = loop.trio_as_future(sleeper)
        await trio.testing.wait_all_tasks_blocked()
        assert future.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await loop.run_aio_future(future)
        assert future.cancelled()
        assert unwound == ["sleeper"]

        # An error raised by the Trio task as it unwinds is not lost.
        future = loop.trio_as_future(raises_while_unwinding)
        await trio.testing.wait_all_tasks_blocked()
        future.cancel()
        with pytest.raises(KeyError, match="while unwinding"):
            await loop.run_aio_future(future)

    trio_asyncio.run(main)


@pytest.mark.parametrize("raise_while_unwinding", [False, True])
def test_leaving_the_block_cancels_trio_as_future_tasks(raise_while_unwinding: bool) -> None:
    """trio-asyncio issue 76: they end cancelled, never with a made-up result."""

    async def trio_task() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                if raise_while_unwinding:
                    raise ValueError("hi") from None
                raise

    async def main() -> asyncio.Future[None]:
        async with trio_asyncio.open_loop() as loop:
            future = loop.trio_as_future(trio_task)
            await trio.testing.wait_all_tasks_blocked()
        return future

    future = trio.run(main)
    assert future.done()
    if raise_while_unwinding:
        with pytest.raises(ExceptionGroup) as caught:
            future.result()
        assert caught.group_contains(ValueError, match="hi")
    else:
        assert future.cancelled()


def test_module_functions_work_on_any_aiotrio_loop() -> None:
    """A hosted loop (loop_factory) or aiotrio's own open_loop(), not only TrioEventLoop."""
    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    async def asyncio_main() -> int:
        trio_asyncio.run_trio_task(note, "task")
        return await trio_asyncio.run_trio(trio_triple, 2)

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(asyncio_main()) == 6

    async def trio_main() -> int:
        async with aiotrio.open_loop():
            return await trio_asyncio.run_aio_coroutine(aio_double(4))

    assert trio.run(trio_main) == 8
    assert ran == ["task"]


def test_run_trio_task_runs_and_its_handle_cancels() -> None:
    events: list[str] = []

    async def nest(x: int) -> None:
        events.append(f"ran {x}")

    async def sleeper() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            events.append("sleeper cancelled")
            raise

    async def main() -> None:
        with pytest.raises(RuntimeError, match="not within a trio_asyncio loop"):
            trio_asyncio.run_trio_task(nest, 0)
        async with trio_asyncio.open_loop() as loop:
            assert trio_asyncio.run_trio_task(nest, 1) is None
            handle = loop.run_trio_task(sleeper)
            await trio.testing.wait_all_tasks_blocked()
            handle.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert handle.cancelled()

    trio.run(main)
    assert events == ["ran 1", "sleeper cancelled"]


def test_run_trio_task_started_just_before_the_block_ends_still_runs() -> None:
    """trio-asyncio: work handed to the loop before the block ends starts before shutdown."""
    ran: list[int] = []

    async def no_checkpoint(x: int) -> None:
        ran.append(x)

    async def main() -> None:
        async with trio_asyncio.open_loop():
            trio_asyncio.run_trio_task(no_checkpoint, 1)

    trio.run(main)
    assert ran == [1]


def test_trio_as_future_cancelled_before_it_starts_ends_cancelled() -> None:
    async def answer() -> int:
        return 42

    async def main() -> asyncio.Future[int]:
        loop = trio_asyncio.current_loop.get()
        future = loop.trio_as_future(answer)
        assert future.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await loop.run_aio_future(future)
        return future

    assert trio_asyncio.run(main).cancelled()


def test_run_trio_task_errors_go_to_the_exception_handler() -> None:
    contexts: list[dict[str, Any]] = []

    async def fails() -> None:
        raise ValueError("lo")

    async def fails_with_a_group() -> None:
        raise ExceptionGroup("two", [KeyError("k"), IndexError("i")])

    async def main() -> None:
        async with trio_asyncio.open_loop() as loop:
            loop.set_exception_handler(lambda _, context: contexts.append(context))
            loop.run_trio_task(fails)
            loop.run_trio_task(fails_with_a_group)
            await trio.testing.wait_all_tasks_blocked()

    trio.run(main)
    # Trio does not promise which of the two tasks runs first.
    errors = sorted((context["exception"] for context in contexts), key=lambda e: type(e).__name__)
    assert [type(e) for e in errors] == [ExceptionGroup, ValueError]
    assert [type(e) for e in errors[0].exceptions] == [KeyError, IndexError]
    assert all("run_trio_task" in context["message"] for context in contexts)


@pytest.mark.parametrize("how", ["bare", "in a group with an error"])
def test_system_exit_in_run_trio_task_ends_the_block(how: str) -> None:
    contexts: list[dict[str, Any]] = []

    async def exits() -> None:
        if how == "bare":
            raise SystemExit(3)
        raise BaseExceptionGroup("", [ValueError("lo"), SystemExit(3)])

    async def main() -> None:
        async with trio_asyncio.open_loop() as loop:
            loop.set_exception_handler(lambda _, context: contexts.append(context))
            loop.run_trio_task(exits)
            await trio.sleep_forever()

    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(main)
    assert caught.group_contains(SystemExit)
    _, rest = caught.value.split(SystemExit)
    assert rest is None
    if how == "bare":
        assert contexts == []
    else:
        [context] = contexts
        assert [type(e) for e in context["exception"].exceptions] == [ValueError]


# -- loop methods: synchronize, stop, close, autoclose -------------------------------------------


def test_synchronize_waits_for_callbacks_scheduled_before() -> None:
    async def main() -> list[str]:
        ran: list[str] = []
        loop = trio_asyncio.current_loop.get()
        loop.call_soon(ran.append, "first")
        loop.call_soon(lambda: loop.call_soon(ran.append, "scheduled by a callback"))
        await loop.synchronize()
        assert ran[0] == "first"
        await loop.synchronize()
        return ran

    assert trio_asyncio.run(main) == ["first", "scheduled by a callback"]


def test_stop_returns_an_event_set_after_earlier_callbacks() -> None:
    async def main() -> None:
        ran: list[str] = []
        async with trio_asyncio.open_loop() as loop:
            loop.call_soon(ran.append, "before stop")
            event = loop.stop()
            assert loop.stop() is event  # the same until the loop has stopped
            assert not event.is_set()
            await event.wait()
            assert ran == ["before stop"]
            await loop.wait_stopped()  # returns at once now
            mine = trio.Event()
            assert loop.stop(mine) is mine
            assert mine.is_set()

    trio.run(main)


def test_wait_stopped_until_a_callback_stops_the_loop() -> None:
    async def main() -> list[str]:
        ran: list[str] = []
        async with trio_asyncio.open_loop() as loop:

            def world() -> None:
                ran.append("world")
                loop.stop()

            loop.call_later(0.5, world)
            loop.call_later(0.1, ran.append, "hello")
            await trio.sleep(0.3)
            assert ran == ["hello"]
            await loop.wait_stopped()
        return ran

    clock = trio.testing.MockClock(autojump_threshold=0)
    assert trio.run(main, clock=clock) == ["hello", "world"]


def test_stop_with_a_waiter_from_a_callback() -> None:
    async def main() -> None:
        waiter = trio.Event()
        async with trio_asyncio.open_loop() as loop:
            loop.call_soon(loop.stop, waiter)
            await waiter.wait()
            await loop.wait_stopped()

    trio.run(main)


def test_close_inside_the_block_needs_stop_first_then_refuses_new_work() -> None:
    async def main() -> trio_asyncio.TrioEventLoop:
        async with trio_asyncio.open_loop() as loop:
            with pytest.raises(RuntimeError, match="running event loop"):
                loop.close()
            from_callback: list[BaseException] = []

            def close_from_callback() -> None:
                try:
                    loop.close()
                except RuntimeError as exc:
                    from_callback.append(exc)

            loop.call_soon(close_from_callback)
            await loop.synchronize()
            assert len(from_callback) == 1

            await loop.stop().wait()
            loop.close()
            assert loop.is_closed()
            with pytest.raises(RuntimeError, match="Event loop is closed"):
                loop.call_soon(print)
            with pytest.raises(RuntimeError, match="Event loop is closed"):
                loop.call_later(1, print)
            with pytest.raises(RuntimeError, match="Event loop is closed"):
                loop.run_in_executor(None, print)
            with pytest.raises(RuntimeError, match="not a sync loop"):
                loop.run_until_complete(None)
            with pytest.raises(RuntimeError, match="not a sync loop"):
                loop.run_forever()
        return loop

    loop = trio.run(main)
    assert loop.is_closed()
    assert not loop.is_running()


def test_stopping_then_leaving_the_block_does_not_hang() -> None:
    async def main() -> None:
        with trio.fail_after(5):
            async with trio_asyncio.open_loop() as loop:
                await trio.lowlevel.checkpoint()
                loop.stop()

    trio.run(main)


def test_autoclose_closes_descriptors_the_loop_still_watches() -> None:
    read_watched, write_watched = os.pipe()
    read_unwatched, write_unwatched = os.pipe()
    read_released, write_released = os.pipe()
    try:

        async def main() -> None:
            async with trio_asyncio.open_loop() as loop:
                loop.add_reader(read_watched, print)
                loop.autoclose(read_watched)
                loop.autoclose(read_unwatched)  # no reader: left to its owner
                loop.add_reader(read_released, print)
                loop.autoclose(read_released)
                loop.no_autoclose(read_released)
                with pytest.raises(KeyError):
                    loop.no_autoclose(write_released)

        trio.run(main)
        with pytest.raises(OSError):
            os.fstat(read_watched)
        os.fstat(read_unwatched)
        os.fstat(read_released)
    finally:
        for fd in (write_watched, read_unwatched, write_unwatched, read_released, write_released):
            os.close(fd)


def test_run_in_executor_with_the_stock_default_executor() -> None:
    async def main() -> None:
        loop = trio_asyncio.current_loop.get()
        ident = await loop.run_aio_future(loop.run_in_executor(None, threading.get_ident))
        assert ident != threading.get_ident()

    trio_asyncio.run(main)


def test_exception_handler_after_the_block_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> trio_asyncio.TrioEventLoop:
        async with trio_asyncio.open_loop() as loop:
            pass
        return loop

    loop = trio.run(main)
    loop.call_exception_handler({"message": "after the block"})
    assert [record.message for record in caplog.records] == ["after the block"]
