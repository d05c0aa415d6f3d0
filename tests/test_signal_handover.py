"""Ctrl-C reaches a Trio program whose asyncio code borrows the SIGINT handler.

uvicorn's ``Server.serve()`` installs its own SIGINT handler while it serves,
puts the previous one back when it is done, and re-raises the signal it
caught. Inside ``open_loop()`` the handler it puts back is Trio's, and the
re-raised signal must end the Trio program with KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from .conftest import READINESS

_BORROWS_SIGINT = """
import asyncio, signal, trio, aiotrio
# A terminal program starts with Python's SIGINT handler (a background job of a
# non-interactive shell would start with SIGINT ignored, and Trio then leaves it so).
signal.signal(signal.SIGINT, signal.default_int_handler)

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
    env = dict(os.environ, AIOTRIO_READINESS=READINESS, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_BORROWS_SIGINT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    assert out.splitlines() == ["KeyboardInterrupt"], (out, err)
