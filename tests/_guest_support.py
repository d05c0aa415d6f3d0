"""Guest-mode test helpers: the host loops, a leak check that knows Trio's I/O thread."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from trio._core import _thread_cache

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

HOSTS = ["asyncio", "uvloop"]


def loop_factory(host: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of `host` loops; skips the test where uvloop does not install."""
    if host == "asyncio":
        return asyncio.SelectorEventLoop
    uvloop = pytest.importorskip("uvloop", reason="uvloop has no wheel for this Python")
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_on(host: str, async_fn: Callable[[], Awaitable[Any]]) -> Any:
    """``asyncio.run(async_fn())`` on a `host` loop (through asyncio.Runner, as 3.11 has it)."""
    with asyncio.Runner(loop_factory=loop_factory(host)) as runner:
        return runner.run(async_fn())  # type: ignore[arg-type]


def _idle_trio_workers() -> set[threading.Thread]:
    # Trio's thread cache keeps a finished worker idle for 10 s for reuse:
    # the guest run's I/O thread ends up there (as trio.to_thread's threads do).
    return {worker._thread for worker in _thread_cache.THREAD_CACHE._idle_workers}


_warmed_up: list[bool] = []


def _warm_up_uvloop() -> None:
    """libuv opens a process-wide pipe with the first loop and keeps it: not a leak of ours."""
    if _warmed_up:
        return
    _warmed_up.append(True)
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """tests/conftest.py's check, but a Trio I/O thread parked idle in Trio's cache is fine.

    A worker still busy (a guest run still waiting for I/O) is a leak.
    """
    _warm_up_uvloop()
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while True:
        idle = _idle_trio_workers()
        leaked = [
            thread
            for thread in threading.enumerate()
            if thread not in threads_before and thread.is_alive() and thread not in idle
        ]
        if not leaked or time.monotonic() > deadline:
            break
        leaked[0].join(0.05)  # a worker returning to the cache, or a thread ending
    assert not leaked, f"threads leaked: {leaked}"
    leaked_fds = {fd for fd in _open_fds() - fds_before if _is_open(fd)}
    assert not leaked_fds, f"file descriptors leaked: {leaked_fds}"


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
