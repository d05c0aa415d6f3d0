"""Timers follow Trio's clock; neither side starves the other."""

from __future__ import annotations

import asyncio
import time

import trio
import trio.testing

import aiotrio


def test_mock_clock_makes_long_asyncio_sleeps_instant() -> None:
    async def aio_side() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        async with asyncio.timeout(7200):
            await asyncio.sleep(1800)
        return loop.time() - start

    async def main() -> tuple[float, float]:
        start = trio.current_time()
        asyncio_elapsed = await aiotrio.run_asyncio(aio_side)
        return asyncio_elapsed, trio.current_time() - start

    wall = time.monotonic()
    asyncio_elapsed, trio_elapsed = aiotrio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert time.monotonic() - wall < 5
    assert asyncio_elapsed >= 5400
    assert trio_elapsed >= 5400


def test_mock_clock_jumps_asyncio_timeouts() -> None:
    async def aio_side() -> str:
        try:
            async with asyncio.timeout(60):
                await asyncio.sleep(3600)
        except TimeoutError:
            return "timed out at the virtual minute"
        return "no timeout"

    async def main() -> tuple[str, float]:
        start = trio.current_time()
        result = await aiotrio.run_asyncio(aio_side)
        return result, trio.current_time() - start

    result, elapsed = aiotrio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == "timed out at the virtual minute"
    assert 60 <= elapsed < 61


def test_trio_tasks_progress_while_asyncio_saturates() -> None:
    """A callback chain that never lets the loop idle must not starve Trio."""

    async def main() -> int:
        async with aiotrio.open_loop() as loop:
            spinning = True

            def spin() -> None:
                if spinning:
                    loop.call_soon(spin)

            loop.call_soon(spin)
            ticks = 0
            with trio.move_on_after(0.2):
                while True:
                    await trio.sleep(0.001)
                    ticks += 1
            spinning = False
            return ticks

    # Unloaded, about 200 ticks fit in 0.2 s; starvation would give a handful.
    assert trio.run(main) >= 30


def test_asyncio_timers_fire_while_trio_saturates() -> None:
    async def busy_trio() -> None:
        while True:
            await trio.sleep(0)

    async def aio_side() -> int:
        fired = 0
        deadline = asyncio.get_running_loop().time() + 0.2
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.001)
            fired += 1
        return fired

    async def main() -> int:
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(busy_trio)
            fired = await aiotrio.run_asyncio(aio_side)
            nursery.cancel_scope.cancel()
        return fired

    assert aiotrio.run(main) >= 30
