"""Which library the code believes it runs under, and who finalises async generators."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import sniffio
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable


def test_sniffio_in_callbacks_task_steps_and_trio_tasks() -> None:
    seen: dict[str, str] = {}

    def callback(where: str) -> None:
        seen[where] = sniffio.current_async_library()

    async def trio_task(where: str) -> None:
        seen[where] = sniffio.current_async_library()

    async def aio_task() -> None:
        seen["asyncio task step"] = sniffio.current_async_library()
        loop = asyncio.get_running_loop()
        loop.call_soon(callback, "asyncio call_soon")
        loop.call_later(0.001, callback, "asyncio call_later")
        timer_ran = loop.create_future()
        loop.call_later(0.002, timer_ran.set_result, None)  # a later deadline: after it
        await timer_ran
        seen["asyncio after await"] = sniffio.current_async_library()
        await aiotrio.run_trio(trio_task, "trio task started from asyncio")
        seen["asyncio after run_trio"] = sniffio.current_async_library()

    async def main() -> None:
        seen["trio main"] = sniffio.current_async_library()
        await aiotrio.run_asyncio(aio_task)
        seen["trio after run_asyncio"] = sniffio.current_async_library()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_task, "trio sibling")

    aiotrio.run(main)
    assert seen == {
        "trio main": "trio",
        "asyncio task step": "asyncio",
        "asyncio call_soon": "asyncio",
        "asyncio call_later": "asyncio",
        "asyncio after await": "asyncio",
        "trio task started from asyncio": "trio",
        "asyncio after run_trio": "asyncio",
        "trio after run_asyncio": "trio",
        "trio sibling": "trio",
    }


def test_sniffio_in_hosted_mode() -> None:
    async def trio_side() -> str:
        return sniffio.current_async_library()

    async def main() -> tuple[str, str]:
        return sniffio.current_async_library(), await aiotrio.run_trio(trio_side)

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == ("asyncio", "trio")


def test_anyio_works_on_both_sides() -> None:
    async def anyio_identity() -> tuple[str, int | None]:
        await anyio.sleep(0.001)
        task = anyio.get_current_task()
        return sniffio.current_async_library(), task.id

    async def aio_side() -> tuple[str, int | None]:
        me = asyncio.current_task()
        library, task_id = await anyio_identity()
        assert task_id == id(me)
        return library, task_id

    async def main() -> tuple[Any, Any]:
        from_asyncio = await aiotrio.run_asyncio(aio_side)
        from_trio = await anyio_identity()
        return from_asyncio[0], from_trio[0]

    assert aiotrio.run(main) == ("asyncio", "trio")


def test_anyio_task_group_inside_asyncio_on_aiotrio(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[int]:
        results: list[int] = []

        async def worker(n: int) -> None:
            await anyio.sleep(0.001 * n)
            results.append(n)

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(worker, n)
        return results

    assert run_aio(main) == [0, 1, 2]


# -- async generators ---------------------------------------------------------------


def test_asyncgens_are_finalised_by_the_loop_that_first_iterated_them() -> None:
    events: list[tuple[str, str]] = []

    async def agen(label: str) -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            events.append((label, sniffio.current_async_library()))

    async def aio_side() -> None:
        gen = agen("asyncio-owned")
        assert await gen.__anext__() == 1
        del gen
        gc.collect()
        for _ in range(3):  # the loop's finaliser schedules aclose() as a task, which runs
            await asyncio.sleep(0)

    async def main() -> None:
        await aiotrio.run_asyncio(aio_side)
        gen = agen("trio-owned")
        assert await gen.__anext__() == 1
        # Trio's own finaliser says so when one of its generators is collected.
        with pytest.warns(ResourceWarning, match="garbage collected before"):
            del gen
            gc.collect()
        await trio.testing.wait_all_tasks_blocked()

    aiotrio.run(main)
    assert events == [("asyncio-owned", "asyncio"), ("trio-owned", "trio")]


def test_unfinished_asyncgens_are_shut_down_when_the_block_ends() -> None:
    events: list[str] = []
    keep: list[Any] = []

    async def agen() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(10)
        finally:
            events.append(f"closed in {sniffio.current_async_library()}")

    async def aio_side() -> None:
        gen = agen()
        keep.append(gen)  # still referenced: only shutdown_asyncgens can close it
        await gen.__anext__()

    async def main() -> None:
        async with aiotrio.open_loop():
            await aiotrio.run_asyncio(aio_side)
            assert events == []
        assert events == ["closed in asyncio"]

    trio.run(main)


def test_asyncgen_hooks_are_restored_after_each_batch() -> None:

    async def main() -> None:
        trio_hooks = sys.get_asyncgen_hooks()
        async with aiotrio.open_loop() as loop:
            inside = await aiotrio.run_asyncio(_hooks)
            assert inside.finalizer == loop._asyncgen_finalizer_hook
            assert sys.get_asyncgen_hooks() == trio_hooks

    trio.run(main)


async def _hooks() -> Any:

    return sys.get_asyncgen_hooks()
