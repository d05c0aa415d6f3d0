"""`EventLoop`: asyncio's selector loop, driven by a Trio task instead of select()."""

from __future__ import annotations

import asyncio
import contextlib
import numbers
import threading
from heapq import heappush
from typing import TYPE_CHECKING, Any, TypeVarTuple, Unpack

import trio

from . import _serve
from ._asyncio_internals import (
    SelectorLoopInternals,
    UnixSubprocessTransport,
    installed_child_watcher,
)
from ._driver import TRIO_LATENCY, Driver, check_trio_latency
from ._eager_step import run_eager_step
from ._readiness import make_readiness
from ._trio_side import EAGER_STEP, PARKED, TrioSide

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable, Generator

_Ts = TypeVarTuple("_Ts")


def _checked_deadline(when: Any) -> Any:
    """A timer deadline that is not a float: a number, or a TypeError now.

    Stock asyncio takes anything and fails later, inside its loop (or keeps a
    bad timer in its heap); here a bad deadline is refused at the call.
    """
    if when is None:
        raise TypeError("when cannot be None")
    if not isinstance(when, numbers.Real):
        raise TypeError(
            f"call_at() needs a deadline in loop.time() seconds, a number, not {when!r}"
        )
    return when


# Ctrl-C inside Trio: Trio's SIGINT handler raises KeyboardInterrupt in
# whatever frame runs unless it is KI-protected (see aiotrio._driver).
# Scheduling is protected: asyncio's C tasks and futures call ``loop.call_soon`` to
# schedule a task's next step or a future's callbacks, and an interrupt
# landing there would lose that step (the task never resumes, the loop's
# shutdown waits for it forever). Protected, the interrupt goes to Trio's
# main task instead. On 3.11 this covers the first step of a bridged task,
# which call_soon runs at once (`aiotrio._eager_step`): that step's code gets
# the interrupt at its next Trio checkpoint.
_scheduling = trio.lowlevel.enable_ki_protection


class EventLoop(SelectorLoopInternals):
    """An asyncio event loop hosted on Trio.

    :flavour: either

    It is asyncio's own selector loop (so transports, servers, TLS, pipes and
    subprocesses are asyncio's), except that the select-and-run cycle is done
    by a Trio task, the driver. Two ways to run it:

    - inside a Trio program, with ``async with aiotrio.open_loop() as loop``:
      the loop runs for the block, alongside the program's Trio tasks;
    - as a stock loop, ``aiotrio.new_event_loop()`` (a ``loop_factory``):
      each ``run_forever()``/``run_until_complete()`` call hosts the driver in
      a ``trio.run`` of its own, and the loop's state outlives those runs.

    `readiness` picks the I/O readiness backend: ``"selector"`` (the default,
    or the ``AIOTRIO_READINESS`` environment variable) or ``"trio"`` (portable,
    one Trio wait per file descriptor). `clock` is the Trio clock hosted
    runs use (default: one reading ``time.monotonic()``), for example a
    ``trio.testing.MockClock``; inside ``open_loop()`` the Trio run's clock is
    used instead.

    `trio_latency` (seconds, default 50 us) is the latency/throughput trade-off
    of sharing the thread: while asyncio work keeps the loop busy, the loop
    looks every `trio_latency` seconds whether Trio has tasks to run or I/O
    ready, and then gives it the thread; while Trio has tasks to run, asyncio
    work runs in slices of that length between Trio's scheduling rounds.
    Trio deadlines (``trio.sleep``, timeouts) are honoured as they fall due,
    whatever the setting. Larger values cost Trio latency and save asyncio
    throughput (each look costs about 1 us); ValueError unless
    0 < trio_latency <= 0.1.
    """

    def __init__(
        self,
        *,
        readiness: str | None = None,
        clock: trio.abc.Clock | None = None,
        trio_latency: float = TRIO_LATENCY,
    ) -> None:
        # Until BaseEventLoop.__init__ runs, look closed: if we fail before it,
        # its __del__ must not try to close a half-built loop.
        self._closed = True
        trio_latency = check_trio_latency(trio_latency, "EventLoop()")
        backend = make_readiness(readiness)
        self._trio = TrioSide(self, backend)
        if clock is not None:
            self._trio.use_clock(clock)
        super().__init__(backend.selector)
        self._trio.driver = Driver(
            self, backend, trio_latency, own_clock=type(self).time is EventLoop.time
        )

    @property
    def trio_latency(self) -> float:
        """The `trio_latency` the loop was made with (seconds)."""
        return self._trio.driver.trio_latency

    @property
    def readiness(self) -> str:
        """The name of the I/O readiness backend: "selector" or "trio"."""
        return self._trio.readiness.name

    # -- time and scheduling -------------------------------------------------------

    def time(self) -> float:
        """The loop's clock: Trio's clock inside open_loop(), time.monotonic() hosted."""
        side = self._trio  # TrioSide.now(), inlined: read in every iteration with timers
        return side.offset + side.read()

    @_scheduling
    def call_soon(  # adapted from CPython's BaseEventLoop.call_soon (3.11-3.15)
        self,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """As asyncio's: schedule ``callback(*args)`` to run in the loop's next iteration."""
        # BaseEventLoop.call_soon with two callees inlined, as the calls cost
        # more than the check at the end. That is code
        # adapted from CPython's BaseEventLoop._check_closed and
        # adapted from CPython's BaseEventLoop._call_soon (3.11-3.15).
        # The check wakes a parked driver: Trio tasks share this thread
        # and may schedule work while it sleeps.
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        handle: Any = asyncio.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]  # this frame: the traceback ends at the caller
        self._ready.append(handle)
        if self._trio.intercept:
            self._intercept_scheduled(handle)
        return handle  # type: ignore[no-any-return]

    @_scheduling
    def call_at(  # adapted from CPython's BaseEventLoop.call_at (3.11-3.15)
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """As asyncio's: schedule ``callback(*args)`` at loop time `when` (see `time`)."""
        # BaseEventLoop.call_at (_check_closed inlined, as in call_soon), plus
        # telling a parked driver about an earlier timer.
        if when.__class__ is not float:
            when = _checked_deadline(when)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer: Any = asyncio.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heappush(self._scheduled, timer)
        timer._scheduled = True
        if self._trio.intercept == PARKED:
            self._trio.driver.lower_deadline(when)
        return timer  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Stop run_forever() after the current iteration (no effect inside open_loop())."""
        self._stopping = True
        if self._trio.intercept == PARKED:
            self._wake()

    def _wake(self) -> None:
        """Wake the parked driver; safe to call when it is not parked."""
        self._trio.mark_awake()
        self._write_to_self()

    def _intercept_scheduled(self, handle: Any) -> None:
        if self._trio.intercept == EAGER_STEP:
            self._trio.take_eager_step()
            run_eager_step(self, handle)
        else:
            self._wake()

    # -- running -------------------------------------------------------------------

    def run_forever(self) -> None:
        """Run until stop() is called, hosting the driver in a trio.run of its own."""
        self._check_closed()
        self._check_running()
        try:
            with self._running_in_this_thread():
                _serve.run_hosted(self)
        finally:
            self._stopping = False

    @contextlib.contextmanager
    def _running_in_this_thread(self) -> Generator[None]:
        """asyncio's "running" state (is_running(), thread checks, origin tracking)
        for as long as the driver serves, in whatever mode."""
        self._thread_id = threading.get_ident()
        self._set_coroutine_origin_tracking(self._debug)
        try:
            yield
        finally:
            self._thread_id = None
            self._set_coroutine_origin_tracking(False)

    def close(self) -> None:
        """As asyncio's; also stops watching child processes and detaches the I/O backend."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if not self.is_closed():
            self._trio.children.close()
            self._trio.readiness.detach()
        super().close()

    # -- signals and child processes ----------------------------------------------

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        """As asyncio's, but leaving Trio's signal wakeup fd alone (see `_signals`)."""
        self._trio.signals.add(sig, callback, args)

    def remove_signal_handler(self, sig: int) -> bool:
        """As asyncio's; the handler that was there before is restored."""
        return self._trio.signals.remove(sig)

    # Adapted from CPython's _UnixSelectorEventLoop._make_subprocess_transport
    # (Lib/asyncio/unix_events.py, 3.14), with the child watcher replaced.
    async def _make_subprocess_transport(  # noqa: PLR0917 (asyncio's signature)
        self,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        extra: Any = None,
        **kwargs: Any,
    ) -> asyncio.SubprocessTransport:
        if installed_child_watcher() is not None:
            # The program chose how children are reaped (3.11-3.13): asyncio's way.
            return await super()._make_subprocess_transport(  # type: ignore[misc, no-any-return]
                protocol, args, shell, stdin, stdout, stderr, bufsize, extra, **kwargs
            )
        # asyncio's, with its child watcher replaced by aiotrio's own waiting.
        waiter = self.create_future()
        transport = UnixSubprocessTransport(
            self,
            protocol,
            args,
            shell,
            stdin,
            stdout,
            stderr,
            bufsize,
            waiter=waiter,
            extra=extra,
            **kwargs,
        )
        self._trio.children.watch(transport.get_pid(), transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await asyncio.shield(transport._wait())
            raise
        return transport  # type: ignore[no-any-return]
