"""Ctrl-C under a SIGINT handler that raises (asyncio.Runner's second Ctrl-C), made safe for Trio.

``asyncio.Runner`` (so ``asyncio.run`` and ``python -m aiotrio``) installs
its own SIGINT handler: the first Ctrl-C cancels the main task, the second
raises KeyboardInterrupt wherever the main thread is. Trio then leaves SIGINT
alone, so that exception can land inside Trio's own scheduler, which it
corrupts (AssertionError, tasks destroyed while pending). While a hosted run
serves, `guard_sigint` wraps such a handler: where Trio's code is running
(KI-protected frames) a loop callback calls the handler instead, so its
first call cancels the main task from asyncio code, and the
KeyboardInterrupt of its second leaves the run as any exception escaping a
callback does; elsewhere the handler runs at once, as asyncio's would.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from collections.abc import Generator
    from types import FrameType

    from ._loop import EventLoop


@contextlib.contextmanager
def guard_sigint(loop: EventLoop) -> Generator[None]:
    """Wrap a raising Python SIGINT handler for the duration of a hosted run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler: Any = signal.getsignal(signal.SIGINT)
    if not callable(handler) or handler is signal.default_int_handler:
        yield  # Trio installs its own, KI-protection-aware handler
        return

    def guarded(signum: int, frame: FrameType | None) -> None:
        if not trio.lowlevel.currently_ki_protected() or loop.is_closed():
            handler(signum, frame)
            return
        # Inside Trio's own code the whole handler waits for a loop callback,
        # the first Ctrl-C too: it cancels the main task, and that reaches
        # Trio (the cancel scopes of its run_trio calls) from the middle of
        # whatever Trio step the signal interrupted.
        loop.call_soon_threadsafe(handler, signum, frame)

    signal.signal(signal.SIGINT, guarded)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is guarded:
            signal.signal(signal.SIGINT, handler)
