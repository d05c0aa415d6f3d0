"""Timing inside one worker process.

The machine may be shared, so a timed pass during which the OS preempted the
thread (an involuntary context switch) also measures someone else's work.
Passes are therefore short (a few ms: most are never preempted) and many:

- a pass that was not preempted counts with its wall-clock time;
- a preempted pass that never blocked (no voluntary context switch either)
  was pure computation, so its thread CPU time is what its wall time would
  have been undisturbed, and counts instead;
- a pass that was preempted and also blocked is set aside.

A figure is the median of the passes that count (of all, if too few do).
"""

from __future__ import annotations

import os
import resource
import statistics
from time import perf_counter, thread_time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Multiplies every workload (the runner's --quick sets it below 1).
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
#: Wall time one timed pass aims for: short enough to be rarely preempted.
PASS_SECONDS = 0.003
#: Clean passes wanted per figure, and the fewest a median is taken over.
CLEAN_PASSES = 10
MIN_CLEAN = 3
#: Time allowed for the passes of one figure (more when too few were clean).
BUDGET_SECONDS = 0.1 * SCALE
MAX_PASSES = 200
#: Warm-up runs until it has taken at least this long.
WARMUP_SECONDS = 0.005

#: (passes not preempted, all passes) in this process: a noise indicator.
pass_counts = [0, 0]


def scaled(n: int, *, minimum: int = 1) -> int:
    """A fixed workload size adjusted by BENCH_SCALE."""
    return max(minimum, int(n * SCALE))


def preemptions() -> int:
    """Involuntary context switches of this thread so far."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


def _switches() -> tuple[int, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nivcsw, usage.ru_nvcsw


async def time_once(run: Callable[[int], Awaitable[object]], n: int) -> float:
    """Seconds per operation of one ``await run(n)``, without warm-up."""
    start = perf_counter()
    await run(n)
    return (perf_counter() - start) / n


async def passes(
    run: Callable[[int], Awaitable[object]], n: int, before: Callable[[], object] | None = None
) -> float:
    """Median seconds per operation over timed passes of ``await run(n)``.

    `before`, if given, runs before each pass, untimed (a ``gc.collect``).
    """
    counted: list[float] = []
    unclean: list[float] = []
    undisturbed = 0
    start = perf_counter()
    while len(counted) < CLEAN_PASSES and len(counted) + len(unclean) < MAX_PASSES:
        spent = perf_counter() - start
        if spent > BUDGET_SECONDS and len(counted) >= MIN_CLEAN:
            break
        if spent > 3 * BUDGET_SECONDS and len(counted) + len(unclean) >= MIN_CLEAN:
            break  # too busy a machine for clean passes: use them all
        if before is not None:
            before()
        involuntary, voluntary = _switches()
        cpu = thread_time()
        wall = perf_counter()
        await run(n)
        wall = perf_counter() - wall
        cpu = thread_time() - cpu
        after_involuntary, after_voluntary = _switches()
        preempted = after_involuntary != involuntary
        blocked = after_voluntary != voluntary
        if not preempted:
            undisturbed += 1
            counted.append(wall / n)
        elif not blocked:
            counted.append(cpu / n)
        else:
            unclean.append(wall / n)
    pass_counts[0] += undisturbed
    pass_counts[1] += len(counted) + len(unclean)
    return statistics.median(counted if len(counted) >= MIN_CLEAN else counted + unclean)


async def per_op(run: Callable[[int], Awaitable[object]], unit: int = 1) -> float:
    """Seconds per operation of ``await run(n)``, which performs `n` operations.

    `n` is a multiple of `unit` sized by a warm-up so that a pass takes about
    PASS_SECONDS. The warm-up's first run is not used for sizing (it pays
    first-time costs: lazy imports, caches), and the size is checked with one
    more pass, so one slow warm-up step cannot make every pass too short.
    """
    await run(unit)
    n = unit
    while True:
        elapsed = await time_once(run, n) * n
        if elapsed >= WARMUP_SECONDS:
            break
        n *= 4
    for _ in range(2):
        n = max(1, round(PASS_SECONDS / (elapsed / n) / unit)) * unit
        elapsed = await time_once(run, n) * n
    return await passes(run, n)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank, of `values`."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]
