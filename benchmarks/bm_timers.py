"""5. call_later with 100,000 pending timers.

Two figures: scheduling the 100,000 far-future timers (per timer), and, with
them pending, a chain of ``call_later(0, ...)`` callbacks that each fire and
schedule the next (per timer inserted into the deep heap, popped and run).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from time import perf_counter

from impls import run_asyncio_main
from timing import per_op, scaled

PENDING = 100_000
FAR = 3600.0
FILL_REPEATS = 5


def _noop() -> None:
    pass


async def fire_chain(n: int) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    remaining = n

    def step() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining:
            loop.call_later(0, step)
        else:
            done.set_result(None)

    loop.call_later(0, step)
    await done


def fill(count: int) -> list[asyncio.TimerHandle]:
    loop = asyncio.get_running_loop()
    # Distinct deadlines, so the heap really is `count` deep.
    return [loop.call_later(FAR + i * 1e-6, _noop) for i in range(count)]


async def cancel(timers: list[asyncio.TimerHandle]) -> None:
    for timer in timers:
        timer.cancel()
    await asyncio.sleep(0)  # let the loop purge the cancelled heap


async def main() -> dict[str, float]:
    pending = scaled(PENDING, minimum=1000)
    await cancel(fill(pending // 10))  # warm-up
    fill_times = []
    for _ in range(FILL_REPEATS):
        # 100k new objects set off collections whose cost depends on what the
        # process allocated before (on 3.14 the incremental GC also scans part
        # of the old heap): start each fill from a collected heap.
        gc.collect()
        start = perf_counter()
        timers = fill(pending)
        fill_times.append((perf_counter() - start) / pending)
        if len(fill_times) < FILL_REPEATS:
            await cancel(timers)
    fill_time = statistics.median(fill_times)
    await asyncio.sleep(0)
    fire_time = await per_op(fire_chain)
    await cancel(timers)
    return {"call_later_fill_100k": fill_time, "call_later_fire_100k_pending": fire_time}


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
