"""User code of ``aiotrio.trio_asyncio``, as a type checker sees it (see sample_bridges)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, assert_type

import trio

import aiotrio
from aiotrio import trio_asyncio

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator


async def aio_double(x: int) -> int:
    """asyncio-flavored: twice `x`."""
    await asyncio.sleep(0)
    return 2 * x


async def aio_count(n: int) -> AsyncGenerator[int]:
    """asyncio-flavored async generator: 0 .. n-1."""
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def trio_greet(name: str, *, punctuation: str = "!") -> str:
    """Trio-flavored: a greeting."""
    await trio.sleep(0)
    return f"hello {name}{punctuation}"


async def trio_record(into: list[object], value: int) -> None:
    """Trio-flavored background task."""
    await trio.sleep(0)
    into.append(value)


def blocking_square(x: int) -> int:
    """For an executor's thread."""
    return x * x


@trio_asyncio.aio_as_trio
async def decorated_aio(x: int) -> str:
    """asyncio-flavored, Trio-flavored once decorated."""
    await asyncio.sleep(0)
    return str(x)


async def from_asyncio(loop: trio_asyncio.TrioEventLoop) -> list[object]:
    """asyncio-flavored: Trio code through trio-asyncio's calls."""
    results: list[object] = []
    future = trio_asyncio.run_trio(trio_greet, "ann")
    assert_type(future, asyncio.Future[str])
    results.append(await future)

    method_future = loop.trio_as_future(trio_greet, "bob")
    assert_type(method_future, asyncio.Future[str])
    results.append(await method_future)

    # (A TrioExecutor would leave Trio's cached worker thread behind for the
    # suite's leak check; its types are checked in `misuse`.)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        square = loop.run_in_executor(pool, blocking_square, 5)
        assert_type(square, asyncio.Future[int])
        results.append(await square)
    return results


async def from_trio() -> list[object]:
    """Trio-flavored: a trio-asyncio program."""
    results: list[object] = []
    async with trio_asyncio.open_loop() as loop:
        assert_type(loop, trio_asyncio.TrioEventLoop)
        assert_type(trio_asyncio.current_loop.get(), aiotrio.EventLoop | None)

        assert_type(await trio_asyncio.run_aio_coroutine(aio_double(2)), int)
        results.append(await loop.run_aio_coroutine(aio_double(3)))

        future: asyncio.Future[str] = loop.create_future()
        loop.call_soon(future.set_result, "set")
        assert_type(await trio_asyncio.run_aio_future(future), str)
        again = await loop.run_aio_future(future)
        assert_type(again, str)
        results.append(again)

        async for number in trio_asyncio.run_aio_generator(loop, aio_count(2)):
            assert_type(number, int)
            results.append(number)

        assert_type(await trio_asyncio.aio_as_trio(aio_double)(4), int)
        assert_type(await decorated_aio(5), str)

        recorded: list[object] = []
        handle = loop.run_trio_task(trio_record, recorded, 1)
        handle.cancel()
        assert_type(trio_asyncio.run_trio_task(trio_record, recorded, 2), None)
        await loop.synchronize()

        results.append(await trio_asyncio.run_aio_coroutine(from_asyncio(loop)))
    return results


async def trio_main(base: int) -> int:
    """Trio-flavored entry point for `trio_asyncio.run`."""
    return base + await trio_asyncio.run_aio_coroutine(aio_double(base))


def run_sample() -> tuple[list[object], int]:
    """Run the sample; what it saw, for the test to check."""
    seen = trio.run(from_trio)
    total = trio_asyncio.run(trio_main, 10)
    assert_type(total, int)
    return seen, total


def takes_str(value: str) -> None:
    """Misuse below passes results here that are no str."""


async def misuse(loop: trio_asyncio.TrioEventLoop) -> None:
    """Never called: its lines are checked, not run (each must stay an error)."""
    trio_asyncio.run_trio(trio_greet, 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    trio_asyncio.run_trio(trio_greet("ann"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    loop.trio_as_future(trio_greet)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    loop.trio_as_future(trio_greet, "ann", punctuation="?")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    loop.run_trio_task(trio_record, [], "1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    trio_asyncio.run_trio_task(trio_record, [])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await trio_asyncio.run_aio_coroutine(aio_double)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    takes_str(await trio_asyncio.run_aio_coroutine(aio_double(1)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    takes_str(await loop.run_aio_coroutine(aio_double(1)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    loop.run_in_executor(None, blocking_square, "5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    trio_asyncio.run(trio_main)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await decorated_aio("5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    executor = trio_asyncio.TrioExecutor(max_workers=1)
    takes_str(await executor.submit(blocking_square, 5))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    loop.run_in_executor(executor, blocking_square)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
