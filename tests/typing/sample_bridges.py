"""User code of aiotrio's bridges, as a type checker sees it.

tools/typecheck.sh checks this file with ``mypy --strict`` and pyright strict:
each ``assert_type`` states what a call returns, and each line of `_misuse`
carries the error both checkers must report (mypy's ``warn_unused_ignores``
and pyright's ``reportUnnecessaryTypeIgnoreComment`` fail the check if one
stops being an error). tests/test_typing_samples.py runs `run_sample`.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, assert_type

import trio

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from types import TracebackType

# -- asyncio-flavored code ---------------------------------------------------------


async def aio_double(x: int) -> int:
    """asyncio-flavored: twice `x`."""
    await asyncio.sleep(0)
    return 2 * x


async def aio_count(n: int) -> AsyncGenerator[int]:
    """asyncio-flavored async generator: 0 .. n-1."""
    for i in range(n):
        await asyncio.sleep(0)
        yield i


@asynccontextmanager
async def aio_resource(name: str) -> AsyncGenerator[str]:
    """asyncio-flavored async context manager (a task group, which needs its task)."""
    async with asyncio.TaskGroup():
        yield name.upper()


class Connection:
    """What `Connect` gives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False


class Connect:
    """Awaitable for a `Connection`, and an async context manager that closes it.

    Shaped as aiohttp's requests and asyncpg's pool acquisitions are.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._connection: Connection | None = None

    async def _open(self) -> Connection:
        await asyncio.sleep(0)
        return Connection(self._name)

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        self._connection.closed = True


@aiotrio.aio_as_trio
async def decorated_aio(x: int, label: str = "item") -> list[str]:
    """asyncio-flavored, turned Trio-flavored by the decorator."""
    await asyncio.sleep(0)
    return [label] * x


class Client:
    """A class whose asyncio-flavored method is called from Trio."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @aiotrio.aio_as_trio
    async def fetch(self, key: str) -> str:
        """asyncio-flavored method, Trio-flavored once decorated."""
        await asyncio.sleep(0)
        return self.prefix + key


# -- Trio-flavored code ------------------------------------------------------------


async def trio_greet(name: str, *, punctuation: str = "!") -> str:
    """Trio-flavored: a greeting."""
    await trio.sleep(0)
    return f"hello {name}{punctuation}"


@aiotrio.trio_as_aio
async def decorated_trio(n: int) -> bytes:
    """Trio-flavored, turned asyncio-flavored by the decorator."""
    await trio.sleep(0)
    return b"x" * n


# -- using them --------------------------------------------------------------------


async def from_asyncio(receive: trio.MemoryReceiveChannel[int]) -> list[object]:
    """asyncio-flavored: Trio code through the bridges."""
    results: list[object] = []
    greeting = await aiotrio.run_trio(trio_greet, "ann")
    assert_type(greeting, str)
    results.append(greeting)

    future = aiotrio.trio_as_aio(trio_greet)("bob", punctuation="?")
    assert_type(future, asyncio.Future[str])
    results.append(await future)

    data = await decorated_trio(3)
    assert_type(data, bytes)
    results.append(data)

    async with aiotrio.trio_as_aio(trio.move_on_after(10)) as scope:
        assert_type(scope, trio.CancelScope)
        results.append(scope.cancel_called)

    async with aiotrio.trio_as_aio(trio.open_nursery()) as nursery:
        assert_type(nursery, trio.Nursery)
        results.append(type(nursery).__name__)

    async for item in aiotrio.trio_as_aio(receive):
        assert_type(item, int)
        results.append(item)
    return results


async def from_trio() -> list[object]:
    """Trio-flavored: asyncio code through the bridges, inside ``open_loop()``."""
    results: list[object] = []
    async with aiotrio.open_loop() as loop:
        assert_type(loop, aiotrio.EventLoop)

        doubled = await aiotrio.run_asyncio(aio_double, 21)
        assert_type(doubled, int)
        results.append(doubled)

        call = aiotrio.aio_as_trio(aio_double)(4)
        assert_type(await call, int)

        items = await decorated_aio(2, label="a")
        assert_type(items, list[str])
        results.append(items)

        fetched = await Client("k:").fetch("v")
        assert_type(fetched, str)
        results.append(fetched)

        assert_type(await aiotrio.aio_as_trio(aio_double(5)), int)

        future: asyncio.Future[str] = loop.create_future()
        future.set_result("done")
        assert_type(await aiotrio.aio_as_trio(future), str)

        async with aiotrio.aio_as_trio(aio_resource("res")) as resource:
            assert_type(resource, str)
            results.append(resource)

        async for number in aiotrio.aio_as_trio(aio_count(3)):
            assert_type(number, int)
            results.append(number)

        connection = await aiotrio.aio_as_trio(Connect("db"))
        assert_type(connection, Connection)
        async with aiotrio.aio_as_trio(Connect("db2")) as held:
            assert_type(held, Connection)
        results.append((connection.name, connection.closed, held.name, held.closed))

        send, receive = trio.open_memory_channel[int](2)
        send.send_nowait(7)
        send.send_nowait(8)
        send.close()
        results.append(await aiotrio.run_asyncio(from_asyncio, receive))
    return results


def run_sample() -> list[object]:
    """Run the sample in a Trio program; what it saw, for the test to check."""
    return trio.run(from_trio)


# -- misuse: each line must stay a type error for both checkers ------------------------


def takes_str(value: str) -> None:
    """Misuse below passes results here that are no str."""


def takes_int(value: int) -> None:
    """Misuse below passes results here that are no int."""


async def misuse(receive: trio.MemoryReceiveChannel[int]) -> None:
    """Never called: its lines are checked, not run."""
    # A wrong argument type, a missing argument, one too many.
    await aiotrio.run_asyncio(aio_double, "21")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await aiotrio.run_asyncio(aio_double)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await aiotrio.run_trio(trio_greet, "ann", "bob")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # A coroutine object where an async function goes.
    await aiotrio.run_trio(trio_greet("ann"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await aiotrio.run_asyncio(aio_double(1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # The result used as what it is not.
    takes_str(await aiotrio.run_asyncio(aio_double, 1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    takes_int(await aiotrio.run_trio(trio_greet, "ann"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # Decorated functions keep their parameters and results.
    await decorated_aio("2")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await decorated_aio(2, colour="red")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    await Client("k").fetch(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await decorated_trio("3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    size: str = await decorated_trio(3)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    await aiotrio.trio_as_aio(trio_greet)("ann", punctuation=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # A Trio awaitable keeps its result type; adapters take no plain value.
    takes_int(await aiotrio.trio_as_aio(trio_greet("ann")))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    aiotrio.aio_as_trio(42)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # Items and entered values keep their types.
    async for item in aiotrio.trio_as_aio(receive):
        takes_str(item)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    async with aiotrio.aio_as_trio(aio_resource("r")) as resource:
        takes_int(resource)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    del size
