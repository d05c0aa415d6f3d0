"""Python opcodes per operation, by function: ``opcodes.py IMPL MODULE:FUNCTION N [TOP]``.

Runs ``await FUNCTION(N)`` (a benchmark body such as ``bm_call_soon:chain``)
once to warm up, then once under a tracer that counts the opcodes each Python
function executes, and prints the total per operation and the TOP (default
20) functions; ``--lines`` counts per source line instead. IMPL is
``asyncio``, ``aiotrio_factory`` or ``aiotrio_open_loop``.

Where callgrind (``instructions.py``) says *that* aiotrio costs more, this
says *where*, in the Python code of both loops. Tracing makes the program some
20 times slower, which would change the driver's time-based decisions (how
many callbacks between clock reads, when a batch ends), so the driver's
``perf_counter`` is slowed 1,000 times for the run: its decisions are then
those of a fast machine. C code (the C ``Task``, ``select``) is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import types
    from collections.abc import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

_SLOWDOWN = 1000.0


class OpcodeCounter:
    """A trace function that counts opcodes per (file, function[, line]) while `on`."""

    def __init__(self, by_line: bool) -> None:
        self.counts: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.on = False
        self._by_line = by_line

    def trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode" and self.on:
            code = frame.f_code
            line = frame.f_lineno if self._by_line else 0
            self.counts[Path(code.co_filename).name, code.co_name, line or 0] += 1
        return self.trace


def _slow_driver_clock() -> None:
    import aiotrio._driver as driver_module

    real = time.perf_counter
    driver_module.perf_counter = lambda: real() / _SLOWDOWN  # type: ignore[attr-defined]


def _run(impl: str, main: Callable[[], Awaitable[None]]) -> None:
    if impl == "asyncio":
        asyncio.run(main())
        return
    import aiotrio

    if impl == "aiotrio_factory":
        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            runner.run(main())
    elif impl == "aiotrio_open_loop":
        import trio

        async def in_trio() -> None:
            async with aiotrio.open_loop():
                await aiotrio.run_asyncio(main)

        trio.run(in_trio)
    else:
        raise SystemExit(f"unknown implementation {impl!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl")
    parser.add_argument("body", help="MODULE:FUNCTION, an async function taking a count")
    parser.add_argument("n", type=int)
    parser.add_argument("top", type=int, nargs="?", default=20)
    parser.add_argument("--lines", action="store_true", help="count per source line")
    args = parser.parse_args()
    module_name, _, function_name = args.body.partition(":")
    body = getattr(importlib.import_module(module_name), function_name)
    if args.impl != "asyncio":
        _slow_driver_clock()
    counter = OpcodeCounter(args.lines)

    async def measured() -> None:
        await body(max(1, args.n // 10))  # warm-up
        counter.on = True
        await body(args.n)
        counter.on = False

    sys.settrace(counter.trace)
    try:
        _run(args.impl, measured)
    finally:
        sys.settrace(None)
    total = sum(counter.counts.values())
    print(f"{args.impl}: {total / args.n:.1f} opcodes per operation")
    for (file, function, line), count in counter.counts.most_common(args.top):
        where = f"{file}:{function}" + (f":{line}" if args.lines else "")
        print(f"{count / args.n:10.2f}  {where}")


if __name__ == "__main__":
    main()
