"""asyncio's timeouts used from Trio, as docs/explanation/cancellation.md describes them.

``asyncio.timeout(delay)`` reads the running asyncio loop when it is made, so
Trio code cannot make one; ``asyncio.timeout_at()`` held through
``aio_as_trio`` times out the asyncio task holding it, not the Trio block,
which runs to its end before ``TimeoutError`` is raised. Trio's own
``move_on_after`` is what bounds asyncio calls from Trio.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def _run(async_fn: Callable[[], Awaitable[None]]) -> None:
    trio.run(async_fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_asyncio_timeout_cannot_be_made_in_trio_code() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.timeout(1)

    _run(main)


def test_timeout_at_held_from_trio_times_out_after_the_block() -> None:
    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            start = trio.current_time()
            with pytest.raises(TimeoutError):
                async with aiotrio.aio_as_trio(asyncio.timeout_at(loop.time() + 1)):
                    await trio.sleep(5)  # not interrupted at 1 s
            assert trio.current_time() - start == pytest.approx(5)

    _run(main)


def test_trio_move_on_after_bounds_asyncio_calls() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            start = trio.current_time()
            with trio.move_on_after(1) as scope:
                await aiotrio.run_asyncio(asyncio.sleep, 3600)
            assert scope.cancelled_caught
            assert trio.current_time() - start == pytest.approx(1)

    _run(main)
