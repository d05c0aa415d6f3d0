"""4. wait_for and timeout() with a long timeout around a short await.

Each operation inserts a timer and cancels it; cancelled timers pile up in the
heap until the loop purges them, which is part of what is measured.
"""

from __future__ import annotations

import asyncio

from impls import run_asyncio_main
from timing import per_op

LONG = 3600.0


async def wait_for(n: int) -> None:
    for _ in range(n):
        await asyncio.wait_for(asyncio.sleep(0), LONG)


async def timeout(n: int) -> None:
    for _ in range(n):
        async with asyncio.timeout(LONG):
            await asyncio.sleep(0)


async def main() -> dict[str, float]:
    return {
        "wait_for": await per_op(wait_for),
        "timeout_cm": await per_op(timeout),
    }


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
