"""3. Spawning and gathering 10,000 trivial tasks (figure: per task)."""

from __future__ import annotations

import asyncio
import gc

from impls import run_asyncio_main
from timing import passes

TASKS = 10_000


async def _trivial() -> None:
    pass


async def spawn_gather(n: int) -> None:
    await asyncio.gather(*[asyncio.create_task(_trivial()) for _ in range(n)])


async def main() -> dict[str, float]:
    # The batch size is the benchmark, so a pass is one gather, however long.
    # Warm up at full size: the first 10,000 tasks also pay for growing the heap.
    await spawn_gather(TASKS)
    # 10,000 tasks (some 60,000 objects) set off a full collection in some
    # passes and not in others, whose cost depends on the whole heap: a
    # figure would be a median of two modes 30% apart. Each pass starts from
    # a collected heap instead (as benchmark 5's fills).
    return {"gather_10k_tasks": await passes(spawn_gather, TASKS, before=gc.collect)}


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
