"""asyncio's own APIs behave on aiotrio as on the stock loop."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable


def test_running_loop_event_loop_current_and_all_tasks(run_aio: Callable[..., Any]) -> None:
    async def child() -> asyncio.Task[Any] | None:
        await asyncio.sleep(0)
        return asyncio.current_task()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, aiotrio.EventLoop)
        assert asyncio.get_event_loop() is loop
        assert loop.is_running()
        me = asyncio.current_task()
        assert me is not None and me.get_loop() is loop
        task = asyncio.create_task(child(), name="child")
        assert {me, task} <= asyncio.all_tasks()
        assert await task is task
        assert task not in asyncio.all_tasks()
        assert asyncio.all_tasks(loop) == {me}

    run_aio(main)


def test_no_running_loop_in_trio_tasks() -> None:
    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            assert loop.is_running()
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.get_running_loop()
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.current_task()
            assert aiotrio.current_loop() is loop

    trio.run(main)


def test_timeout_wait_for_shield_gather_wait(run_aio: Callable[..., Any]) -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.Event().wait()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 0.01)
        assert await asyncio.wait_for(asyncio.sleep(0, "ok"), 3600) == "ok"
        inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(inner), 0.001)
        assert not inner.cancelled()
        inner.set_result("inner")
        assert await inner == "inner"
        assert await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0.01, 2)) == [1, 2]
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(asyncio.sleep(0.001)), asyncio.ensure_future(forever())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert len(done) == 1 and len(pending) == 1
        for task in pending:
            task.cancel()

    run_aio(main)


def test_taskgroup_and_cancelling_counts(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[int]:
        results = []
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(asyncio.sleep(0.001 * i, i)) for i in range(5)]
        results = [t.result() for t in tasks]
        me = asyncio.current_task()
        assert me is not None and me.cancelling() == 0
        return results

    assert run_aio(main) == [0, 1, 2, 3, 4]


def test_to_thread_runs_in_a_thread_and_keeps_context(run_aio: Callable[..., Any]) -> None:

    var: contextvars.ContextVar[str] = contextvars.ContextVar("v")

    def in_thread() -> tuple[str, bool]:
        return var.get(), threading.current_thread() is threading.main_thread()

    async def main() -> tuple[str, bool]:
        var.set("copied")
        return await asyncio.to_thread(in_thread)

    assert run_aio(main) == ("copied", False)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are new in 3.12")
def test_eager_task_factory(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        order: list[str] = []

        async def eager() -> str:
            order.append("eager ran")
            return "done"

        task = asyncio.create_task(eager())
        order.append("after create_task")
        assert task.done()  # finished without ever yielding
        assert await task == "done"
        loop.set_task_factory(None)
        return order

    assert run_aio(main) == ["eager ran", "after create_task"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are new in 3.12")
def test_eager_task_factory_with_run_asyncio_from_trio() -> None:
    async def aio_side() -> str:
        return "ran eagerly in asyncio context: " + str(asyncio.get_running_loop() is not None)

    async def main() -> str:
        async with aiotrio.open_loop() as loop:
            loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
            return await aiotrio.run_asyncio(aio_side)

    assert trio.run(main) == "ran eagerly in asyncio context: True"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="capture_call_graph is new in 3.14")
def test_capture_call_graph(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        names: list[str] = []

        async def leaf() -> None:
            graph = asyncio.capture_call_graph()  # type: ignore[attr-defined]
            assert graph is not None
            names.extend(entry.future.get_name() for entry in graph.awaited_by)
            names.append(graph.future.get_name())

        async def parent() -> None:
            await asyncio.create_task(leaf(), name="leaf")

        await asyncio.create_task(parent(), name="parent")
        return names

    assert run_aio(main) == ["parent", "leaf"]


def test_futures_and_tasks_are_the_builtin_ones(run_aio: Callable[..., Any]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        task = loop.create_task(asyncio.sleep(0))
        assert type(future) is asyncio.Future
        assert type(task) is asyncio.Task
        await task

    run_aio(main)


def test_loop_is_a_base_event_loop_and_repr_shows_state() -> None:
    loop = aiotrio.new_event_loop()
    assert isinstance(loop, asyncio.BaseEventLoop)
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert "running=False" in repr(loop)
    assert not loop.is_running() and not loop.is_closed()
    loop.close()
    assert loop.is_closed()
    loop.close()  # closing twice is allowed, as in asyncio


def test_run_until_complete_errors_match_asyncio() -> None:
    loop = aiotrio.new_event_loop()
    try:
        with pytest.raises(TypeError):
            loop.run_until_complete(42)  # type: ignore[arg-type]

        async def reenter() -> None:
            coro = asyncio.sleep(0)
            try:
                with pytest.raises(RuntimeError, match="already running"):
                    loop.run_until_complete(coro)
            finally:
                coro.close()

        loop.run_until_complete(reenter())

        async def another_loop() -> None:
            other = aiotrio.new_event_loop()
            coro = asyncio.sleep(0)
            try:
                with pytest.raises(RuntimeError, match="another loop is running"):
                    other.run_until_complete(coro)
            finally:
                coro.close()
                other.close()

        loop.run_until_complete(another_loop())
    finally:
        loop.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_closed_open_loop_raises_asyncio_errors() -> None:
    async def main() -> aiotrio.EventLoop:
        async with aiotrio.open_loop() as loop:
            with pytest.raises(RuntimeError, match="Cannot close a running event loop"):
                loop.close()
            coro = asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already running"):
                loop.run_until_complete(coro)
            coro.close()
        return loop

    loop = trio.run(main)
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.create_task(coro)
    coro.close()
