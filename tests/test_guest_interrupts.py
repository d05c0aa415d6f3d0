"""Ctrl-C in a program whose asyncio loop hosts a Trio guest run: real processes, real SIGINT."""

from __future__ import annotations

import signal

import pytest

from tests._guest_support import HOSTS, loop_factory, no_leaks
from tests.conftest import run_and_interrupt

__all__ = ["no_leaks"]

_PRELUDE = """
import asyncio, sys, trio, aiotrio
if sys.argv[1] == "uvloop":
    import uvloop
    factory = uvloop.new_event_loop
else:
    factory = asyncio.SelectorEventLoop

async def trio_part(busy):
    try:
        print("READY", flush=True)
        if busy:
            while True:
                await trio.sleep(0)
        await trio.sleep_forever()
    finally:
        print("TRIO FINALLY", flush=True)
"""

_RUNNER = """
async def main():
    await aiotrio.run_trio(trio_part, sys.argv[2] == "busy")
with asyncio.Runner(loop_factory=factory) as runner:
    runner.run(main())
"""

# No asyncio.Runner: SIGINT keeps Python's default handler, which Trio then
# takes over for the run (as trio.run would).
_BY_HAND = """
async def main():
    await aiotrio.run_trio(trio_part, sys.argv[2] == "busy")
loop = factory()
try:
    loop.run_until_complete(main())
finally:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
"""


@pytest.mark.parametrize("mode", ["idle", "busy"])
@pytest.mark.parametrize("program", [_RUNNER, _BY_HAND], ids=["asyncio.Runner", "by-hand"])
@pytest.mark.parametrize("host", HOSTS)
def test_ctrl_c_ends_a_guest_hosting_program_as_without_aiotrio(
    host: str, program: str, mode: str
) -> None:
    loop_factory(host)  # skips where uvloop is missing
    result = run_and_interrupt(_PRELUDE + program, host, mode)
    assert result.returncode == -signal.SIGINT, result
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), result.stderr
    assert "TRIO FINALLY" in result.stdout, result
    for noise in ("Exception ignored", "Warning", "never retrieved", "abandoned"):
        assert noise not in result.stderr, result.stderr
