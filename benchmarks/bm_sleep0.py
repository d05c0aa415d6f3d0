"""2. ``await asyncio.sleep(0)`` in 10 concurrent tasks."""

from __future__ import annotations

import asyncio

from impls import run_asyncio_main
from timing import per_op

TASKS = 10


async def _sleeper(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def sleep0(n: int) -> None:
    await asyncio.gather(*(_sleeper(n // TASKS) for _ in range(TASKS)))


async def main() -> dict[str, float]:
    return {"sleep0_10_tasks": await per_op(sleep0, TASKS)}


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
