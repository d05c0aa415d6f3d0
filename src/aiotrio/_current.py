"""Which aiotrio loop the code running now talks to."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

from ._loop import EventLoop

#: Set by open_loop() for its block, and in every Trio task run_trio() starts.
current_loop_var: ContextVar[EventLoop | None] = ContextVar("aiotrio_current_loop", default=None)


def current_loop() -> EventLoop:
    """The aiotrio loop of the calling code.

    From Trio code: the loop of the innermost ``open_loop()`` block (or, in a
    Trio task started by ``run_trio``, the loop that started it). From asyncio
    code: the running loop, if it is an aiotrio loop.

    Raises:
        RuntimeError: if there is no such loop.
    """
    loop = current_loop_var.get()
    if loop is not None:
        return loop
    running = asyncio.events._get_running_loop()
    if isinstance(running, EventLoop):
        return running
    raise RuntimeError(
        "no aiotrio loop here: use `async with aiotrio.open_loop()` "
        "(or aiotrio.run()) around this code"
    )


def running_aiotrio_loop(api: str) -> EventLoop:
    """The running asyncio loop, which `api` needs to be an aiotrio loop."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, EventLoop):
        raise RuntimeError(f"{api} needs an aiotrio event loop, but the running loop is {loop!r}")
    return loop
