"""Smoke test of an installed aiotrio (run by tools/dist.sh from outside the source tree).

Both ways of running and both bridges, once each: enough to show the wheel is whole.
"""

from __future__ import annotations

import asyncio
import importlib.resources

import trio

import aiotrio


async def asyncio_double(x: int) -> int:
    await asyncio.sleep(0)
    return await aiotrio.run_trio(trio_double_plus_one, x) - 1


async def trio_double_plus_one(x: int) -> int:
    await trio.sleep(0)
    return 2 * x + 1


async def trio_main() -> int:
    async with aiotrio.open_loop():
        return await aiotrio.run_asyncio(asyncio_double, 21)


def main() -> None:
    assert "site-packages" in aiotrio.__file__, aiotrio.__file__
    assert importlib.resources.files("aiotrio").joinpath("py.typed").is_file()
    assert trio.run(trio_main) == 42
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(asyncio.sleep(0, result="hosted")) == "hosted"
    print(f"smoke test passed: aiotrio {aiotrio.__version__}")


if __name__ == "__main__":
    main()
