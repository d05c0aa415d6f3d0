"""1. call_soon: a chain (each callback schedules the next) and bursts of 1,000."""

from __future__ import annotations

import asyncio

from impls import run_asyncio_main
from timing import per_op

BURST = 1000


async def chain(n: int) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    remaining = n

    def step() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining:
            loop.call_soon(step)
        else:
            done.set_result(None)

    loop.call_soon(step)
    await done


def _noop() -> None:
    pass


async def burst(n: int) -> None:
    """n callbacks, scheduled 1,000 at a time; sleep(0) queues behind each burst."""
    call_soon = asyncio.get_running_loop().call_soon
    for _ in range(n // BURST):
        for _ in range(BURST):
            call_soon(_noop)
        await asyncio.sleep(0)


async def main() -> dict[str, float]:
    return {
        "call_soon_chain": await per_op(chain),
        "call_soon_burst": await per_op(burst, BURST),
    }


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
