"""Ctrl-C reaches a Trio program whose asyncio code borrows the SIGINT handler.

uvicorn's ``Server.serve()`` installs its own SIGINT handler while it serves,
puts the previous one back when it is done, and re-raises the signal it
caught. Inside ``open_loop()`` the handler it puts back is Trio's, and the
re-raised signal must end the Trio program with KeyboardInterrupt.
"""

from __future__ import annotations

from .conftest import run_and_interrupt

_BORROWS_SIGINT = """
import asyncio, signal, trio, aiotrio
async def serve():
    caught = asyncio.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.set())
    try:
        print("READY", flush=True)
        await caught.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    signal.raise_signal(signal.SIGINT)  # what uvicorn does after its graceful shutdown
    return "served"

async def main():
    async with aiotrio.open_loop():
        print("returned", await aiotrio.run_asyncio(serve), flush=True)

try:
    trio.run(main)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
"""


def test_sigint_reraised_by_asyncio_code_ends_the_trio_program() -> None:
    result = run_and_interrupt(_BORROWS_SIGINT)
    assert result.stdout.splitlines() == ["READY", "KeyboardInterrupt"], result
