"""run_in_executor, default executors, and name resolution without blocking Trio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import socket
import threading
from multiprocessing import resource_tracker
from typing import TYPE_CHECKING, Any

import pytest
import trio

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


@pytest.fixture(autouse=True, scope="module")
def _resource_tracker() -> None:
    """Start multiprocessing's tracker (kept for the whole process) before leak checks."""

    resource_tracker.ensure_running()


def _thread_name() -> str:
    return threading.current_thread().name


def test_default_executor(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        total = await loop.run_in_executor(None, sum, range(10))
        name = await loop.run_in_executor(None, _thread_name)
        return total, name

    total, name = run_aio(main)
    assert total == 45
    assert name.startswith("asyncio")


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_any_executor(run_aio: Callable[..., Any], kind: str) -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        executor: concurrent.futures.Executor
        if kind == "thread":
            executor = concurrent.futures.ThreadPoolExecutor(2)
        else:
            # Not the 3.14 default "forkserver": its server outlives the test.
            spawn = multiprocessing.get_context("spawn")
            executor = concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn)
        with executor:
            return await loop.run_in_executor(executor, pow, 2, 10)

    assert run_aio(main) == 1024


def test_set_default_executor_and_shutdown(run_aio: Callable[..., Any]) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine")
        loop.set_default_executor(executor)
        name = await loop.run_in_executor(None, _thread_name)
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError):
            loop.run_in_executor(None, _thread_name)
        return name

    assert run_aio(main).startswith("mine")


def test_executor_errors_propagate(run_aio: Callable[..., Any]) -> None:
    def fail() -> None:
        raise ValueError("in a thread")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="in a thread"):
            await loop.run_in_executor(None, fail)

    run_aio(main)


async def _trio_runs_while_a_thread_blocks(
    start: Callable[[asyncio.AbstractEventLoop, Callable[[], bool]], Awaitable[object]],
) -> list[bool]:
    """Whether Trio code ran while ``await start(loop, blocking)`` had a thread in `blocking`.

    `blocking` waits (30 s at most) for a Trio task that can only run if the thread does
    not hold up Trio; it records whether it was released.
    """
    token = trio.lowlevel.current_trio_token()
    thread_blocking = trio.Event()
    release = threading.Event()
    released: list[bool] = []

    def blocking() -> bool:
        token.run_sync_soon(thread_blocking.set)
        released.append(release.wait(30))
        return released[-1]

    async def trio_side() -> None:
        await thread_blocking.wait()
        release.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio_side)
        await aiotrio.run_asyncio(start, aiotrio.current_loop(), blocking)
    return released


def test_blocking_executor_work_does_not_block_trio() -> None:
    """A Trio task runs while asyncio waits on a thread."""
    released = aiotrio.run(
        _trio_runs_while_a_thread_blocks,
        lambda loop, blocking: loop.run_in_executor(None, blocking),
    )
    assert released == [True]


def test_getaddrinfo_and_getnameinfo(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[set[str], str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            "localhost", 80, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
        addresses = {info[4][0] for info in infos}
        _host, port = await loop.getnameinfo(
            ("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        )
        return addresses, port

    addresses, port = run_aio(main)
    assert addresses == {"127.0.0.1"}
    assert port == "80"


def test_getaddrinfo_does_not_block_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a slow resolver (here: one that waits for Trio code) leaves Trio free."""
    real = socket.getaddrinfo

    async def resolve(loop: asyncio.AbstractEventLoop, blocking: Callable[[], bool]) -> object:
        def slow_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
            blocking()
            return real(*args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
        return await loop.getaddrinfo("127.0.0.1", 80)

    assert aiotrio.run(_trio_runs_while_a_thread_blocks, resolve) == [True]
