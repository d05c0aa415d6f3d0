"""10. Cross-calls per call: Trio awaiting asyncio and asyncio awaiting Trio.

aiotrio: ``run_asyncio`` / ``run_trio``; trio-asyncio: ``aio_as_trio`` /
``trio_as_aio``. The callee is an empty async function, so a figure is the
bridge's own cost. ``trio.sleep(0)`` is measured in the same process as the
yardstick the target refers to.
"""

from __future__ import annotations

from typing import Any

from impls import run_trio_main
from timing import per_op


async def _empty() -> None:
    pass


async def main(to_aio: Any, to_trio: Any) -> dict[str, float]:
    import trio

    async def trio_calls_asyncio(n: int) -> None:
        for _ in range(n):
            await to_aio(_empty)

    async def asyncio_calls_trio(n: int) -> None:
        for _ in range(n):
            await to_trio(_empty)

    async def asyncio_side() -> float:
        return await per_op(asyncio_calls_trio)

    async def trio_sleep0(n: int) -> None:
        for _ in range(n):
            await trio.sleep(0)

    return {
        "bridge_trio_to_asyncio": await per_op(trio_calls_asyncio),
        "bridge_asyncio_to_trio": await to_aio(asyncio_side),
        "trio_sleep0": await per_op(trio_sleep0),
    }


def measure(impl: str) -> dict[str, float]:
    return run_trio_main(impl, main)
