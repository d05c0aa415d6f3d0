"""11. Fairness: how late a 1 ms sleep wakes up while the other side saturates.

- Trio sleeper, asyncio load: 10 self-rescheduling ``call_soon`` chains keep
  the asyncio ready queue full while a Trio task sleeps 1 ms, repeatedly.
- asyncio sleeper, Trio load: 10 Trio tasks checkpoint in a loop while an
  asyncio task sleeps 1 ms, repeatedly.

Figures are the lateness (wake-up time minus due time) at p50 and p99. On a
shared machine the OS preempting the process shows up as lateness too, so
each direction also reports its p99 over the samples during which the thread
was not preempted (no involuntary context switch): the part the event loops
are responsible for.
"""

from __future__ import annotations

import asyncio
import resource
from time import perf_counter
from typing import TYPE_CHECKING, Any

from impls import run_trio_main
from timing import percentile, scaled

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SLEEP = 0.001
LOAD = 10
SAMPLES = 300


def _preemptions() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


async def sample(sleep: Callable[[float], Awaitable[object]]) -> list[tuple[float, bool]]:
    """(lateness, preempted) for SAMPLES sleeps of SLEEP seconds."""
    samples = []
    for _ in range(scaled(SAMPLES, minimum=20)):
        switches = _preemptions()
        start = perf_counter()
        await sleep(SLEEP)
        late = perf_counter() - start - SLEEP
        samples.append((late, _preemptions() != switches))
    return samples


def summary(prefix: str, samples: list[tuple[float, bool]]) -> dict[str, float]:
    lateness = [late for late, _ in samples]
    undisturbed = [late for late, preempted in samples if not preempted] or [float("nan")]
    return {
        f"{prefix}_p50": percentile(lateness, 50),
        f"{prefix}_p99": percentile(lateness, 99),
        f"{prefix}_p99_unpreempted": percentile(undisturbed, 99),
        f"{prefix}_preempted": 1 - len(undisturbed) / len(lateness),
    }


async def _asyncio_sleeper() -> list[tuple[float, bool]]:
    return await sample(asyncio.sleep)


async def main(to_aio: Any, to_trio: Any) -> dict[str, float]:
    import trio

    running = True
    spins = 0

    async def start_asyncio_load() -> None:
        loop = asyncio.get_running_loop()

        def spin() -> None:
            nonlocal spins
            spins += 1
            if running:
                loop.call_soon(spin)

        for _ in range(LOAD):
            loop.call_soon(spin)

    await to_aio(start_asyncio_load)
    trio_samples = await sample(trio.sleep)
    running = False
    if spins < len(trio_samples):
        raise RuntimeError(f"the asyncio load did not run ({spins} callbacks)")

    async def trio_spin() -> None:
        while True:
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for _ in range(LOAD):
            nursery.start_soon(trio_spin)
        asyncio_samples = await to_aio(_asyncio_sleeper)
        nursery.cancel_scope.cancel()
    return {
        **summary("fair_trio_sleeper", trio_samples),
        **summary("fair_asyncio_sleeper", asyncio_samples),
    }


def measure(impl: str) -> dict[str, float]:
    return run_trio_main(impl, main)
