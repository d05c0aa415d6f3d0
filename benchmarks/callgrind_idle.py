"""Instructions per idle timer wake-up (family 12), counted by callgrind.

``python benchmarks/callgrind_idle.py [N]`` runs, for open_loop, loop_factory,
Trio's own ``trio.sleep`` and stock asyncio, a program that sleeps 2 ms
20 + N and 20 + 2N times under ``valgrind --tool=callgrind``, and prints the
difference per wake-up (N defaults to 100) and the ratio to ``trio.sleep``.
Instruction counts do not depend on the machine's load, unlike the CPU time
``bm_idle`` measures; they leave out the kernel's share (system calls).
Needs valgrind on PATH; aiotrio is imported from this Python's environment.
"""

from __future__ import annotations

import re
import subprocess
import sys

MODES = ("open_loop", "loop_factory", "trio", "stock")

PROGRAM = """
import asyncio, sys
import trio
import aiotrio

mode, n = sys.argv[1], int(sys.argv[2])


async def aio_sleeps(count):
    for _ in range(count):
        await asyncio.sleep(0.002)


async def trio_sleeps(count):
    for _ in range(count):
        await trio.sleep(0.002)


async def in_open_loop(count):
    async with aiotrio.open_loop():
        await aiotrio.run_asyncio(aio_sleeps, count)


if mode == "open_loop":
    trio.run(in_open_loop, 20 + n)
elif mode == "loop_factory":
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        runner.run(aio_sleeps(20 + n))
elif mode == "trio":
    trio.run(trio_sleeps, 20 + n)
else:
    asyncio.run(aio_sleeps(20 + n))
"""


def instructions(mode: str, wakeups: int) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            PROGRAM,
            mode,
            str(wakeups),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{result.stderr}")
    return int(found.group(1))


def main(n: int = 100) -> None:
    per_wakeup = {mode: (instructions(mode, 2 * n) - instructions(mode, n)) / n for mode in MODES}
    trio_cost = per_wakeup["trio"]
    print(f"Python {sys.version.split()[0]}, instructions per idle 2 ms wake-up")
    for mode, cost in per_wakeup.items():
        print(f"  {mode:13} {cost / 1000:7.1f}k  x{cost / trio_cost:.2f} trio.sleep")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:2]))
