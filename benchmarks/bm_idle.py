"""12. Idle wake-ups: CPU time one timer wake-up costs an otherwise idle program.

A task sleeps 2 ms, over and over, with nothing else to do: the process is
asleep in the kernel most of the time, and each wake-up costs the loop's
whole way from "the deadline passed" to "the task runs" and back to sleep.
The figure is CPU time (``time.process_time()``: user + system, every
thread), not wall time, so it hardly depends on the machine's load: wall
time here is the sleep itself.

- ``idle_asyncio_wakeup``: ``await asyncio.sleep(0.002)`` the implementation's way.
- ``idle_trio_wakeup``: ``await trio.sleep(0.002)`` in a plain ``trio.run``,
  in the same process: the yardstick for aiotrio (implementations with Trio).
"""

from __future__ import annotations

import asyncio
import statistics
from time import process_time
from typing import TYPE_CHECKING

from impls import TRIO_CAPABLE, run_asyncio_main
from timing import scaled

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SLEEP = 0.002
WAKEUPS = 60  # per pass
PASSES = 5
WARMUP = 20


async def cpu_per_wakeup(sleep: Callable[[float], Awaitable[object]]) -> float:
    """Median over passes of the CPU seconds per ``await sleep(SLEEP)``."""
    for _ in range(WARMUP):
        await sleep(SLEEP)
    per_pass = []
    n = scaled(WAKEUPS, minimum=10)
    for _ in range(scaled(PASSES, minimum=3)):
        start = process_time()
        for _ in range(n):
            await sleep(SLEEP)
        per_pass.append((process_time() - start) / n)
    return statistics.median(per_pass)


async def _asyncio_main() -> float:
    return await cpu_per_wakeup(asyncio.sleep)


def measure(impl: str) -> dict[str, float]:
    figures = {"idle_asyncio_wakeup": run_asyncio_main(impl, _asyncio_main)}
    if impl in TRIO_CAPABLE:
        import trio

        figures["idle_trio_wakeup"] = trio.run(cpu_per_wakeup, trio.sleep)
    return figures
