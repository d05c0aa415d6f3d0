"""Signal handlers that coexist with Trio.

asyncio's own ``add_signal_handler`` points ``signal.set_wakeup_fd`` at the
loop's self-pipe and resets it to -1 when the last handler goes. Trio owns the
wakeup fd for the whole run (it is how Trio notices Ctrl-C while idle), so
aiotrio leaves it alone: each handled signal gets a plain Python-level handler
that queues the loop's callback exactly as asyncio's signal path does
(``_add_callback_signalsafe``: append, then write the self-pipe). The handler
that was installed before is put back when ours is removed, so removing a
SIGINT handler gives Trio (or Python) its Ctrl-C handling back.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import threading
from typing import TYPE_CHECKING, Any

from ._asyncio_internals import is_coroutine_function

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._loop import EventLoop

_Handler = Any  # what signal.getsignal() returns: a callable, SIG_DFL, SIG_IGN or None


class SignalHandlers:
    """The signal handlers one loop has installed, and what they replaced."""

    def __init__(self, loop: EventLoop) -> None:
        self._loop = loop
        self._replaced: dict[int, _Handler] = {}

    def add(self, sig: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        """``loop.add_signal_handler``: same checks and errors as asyncio's.

        Adapted from CPython's _UnixSelectorEventLoop.add_signal_handler (3.11-3.15),
        with Python-level handlers instead of the wakeup fd.
        """
        loop = self._loop
        if asyncio.iscoroutine(callback) or is_coroutine_function(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        loop._check_signal(sig)
        loop._check_closed()
        if threading.current_thread() is not threading.main_thread():
            # The error asyncio gives (it comes from set_wakeup_fd there).
            raise RuntimeError("set_wakeup_fd only works in main thread of the main interpreter")
        handle = asyncio.Handle(callback, args, loop, None)
        previous = signal.getsignal(sig)
        loop._signal_handlers[sig] = handle
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)  # SA_RESTART, as asyncio sets
        except OSError as exc:
            del loop._signal_handlers[sig]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        if sig not in self._replaced:
            self._replaced[sig] = previous

    def remove(self, sig: int) -> bool:
        """``loop.remove_signal_handler``: restore what was there before.

        Adapted from CPython's _UnixSelectorEventLoop.remove_signal_handler (3.11-3.15).
        """
        loop = self._loop
        loop._check_signal(sig)
        try:
            del loop._signal_handlers[sig]
        except KeyError:
            return False
        previous = self._replaced.pop(sig, None)
        if previous is None:  # installed outside Python: asyncio's defaults
            previous = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, previous)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        except ValueError:
            # Not the main thread any more (closing from another thread):
            # nothing can be restored from here.
            return True
        return True

    def _on_signal(self, signum: int, frame: object) -> None:
        # Runs in the main thread between two bytecodes, possibly in the middle
        # of a batch: only the signal-safe queueing path may be used.
        self._loop._handle_signal(signum)
