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

The price of the Trio side's punctuality is asyncio throughput: the share of
the asyncio load's callbacks per CPU second kept while the Trio task ticks
(``fair_asyncio_throughput_kept``), against phases, in the same run, in which
the Trio side waits without ticking. Phases alternate so drift cancels; CPU
time (``thread_time``) rather than wall time, so other processes do not count.
The ticker's own wake-ups cost CPU too: ``fair_trio_throughput_kept`` is the
same measure for a CPU-bound Trio task under the same ticker in a plain
``trio.run`` (no asyncio), the most any loop could keep.
"""

from __future__ import annotations

import asyncio
import resource
from time import perf_counter, thread_time
from typing import TYPE_CHECKING, Any

from impls import run_trio_main
from timing import percentile, scaled

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SLEEP = 0.001
LOAD = 10
SAMPLES = 300
PHASES = 3  # of each kind: ticking, not ticking


def _preemptions() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


async def sample(
    sleep: Callable[[float], Awaitable[object]], count: int | None = None
) -> list[tuple[float, bool]]:
    """(lateness, preempted) for `count` (default SAMPLES) sleeps of SLEEP seconds."""
    samples = []
    for _ in range(scaled(SAMPLES, minimum=20) if count is None else count):
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
    trio_samples: list[tuple[float, bool]] = []
    # [callbacks, CPU seconds] of the phases without and with the ticker.
    totals = {False: [0, 0.0], True: [0, 0.0]}
    per_phase = scaled(SAMPLES, minimum=20) // PHASES + 1
    duration = per_phase * SLEEP * 1.1
    for _ in range(PHASES):
        for ticking in (False, True):
            before_spins, before_cpu, started = spins, thread_time(), perf_counter()
            if ticking:
                trio_samples += await sample(trio.sleep, per_phase)
                duration = perf_counter() - started
            else:
                # As long as a ticking phase takes, with a single wake-up.
                await trio.sleep(duration)
            totals[ticking][0] += spins - before_spins
            totals[ticking][1] += thread_time() - before_cpu
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
        "fair_asyncio_throughput_kept": (totals[True][0] / totals[True][1])
        / (totals[False][0] / totals[False][1]),
    }


async def _trio_alone() -> float:
    """Throughput kept by a CPU-bound Trio task (no asyncio) while a Trio task ticks."""
    import trio

    spins = 0
    running = True

    async def spinner() -> None:
        nonlocal spins
        while running:
            for _ in range(20):  # about as long as one asyncio callback each
                spins += 1
            await trio.lowlevel.checkpoint()

    totals = {False: [0, 0.0], True: [0, 0.0]}
    per_phase = scaled(SAMPLES, minimum=20) // PHASES + 1
    async with trio.open_nursery() as nursery:
        nursery.start_soon(spinner)
        for _ in range(PHASES):
            for ticking in (False, True):
                before_spins, before_cpu = spins, thread_time()
                if ticking:
                    await sample(trio.sleep, per_phase)
                else:
                    await trio.sleep(per_phase * SLEEP * 1.1)
                totals[ticking][0] += spins - before_spins
                totals[ticking][1] += thread_time() - before_cpu
        running = False
    return (totals[True][0] / totals[True][1]) / (totals[False][0] / totals[False][1])


def measure(impl: str) -> dict[str, float]:
    import trio

    figures = run_trio_main(impl, main)
    figures["fair_trio_throughput_kept"] = trio.run(_trio_alone)
    return figures
