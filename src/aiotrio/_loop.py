"""`EventLoop`: asyncio's selector loop, driven by a Trio task instead of select()."""

from __future__ import annotations

import asyncio
import threading
from asyncio import unix_events
from heapq import heappush
from typing import TYPE_CHECKING, Any, TypeVarTuple, Unpack

import trio

from . import _hosting
from ._children import installed_child_watcher, stop_watching_children, watch_child
from ._driver import Driver
from ._readiness import make_readiness
from ._signals import SignalHandlers
from ._trio_side import EAGER_STEP, NOTHING, PARKED, TrioSide

if TYPE_CHECKING:
    import collections
    import contextvars
    import selectors
    from collections.abc import Callable

_Ts = TypeVarTuple("_Ts")


class EventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop hosted on Trio.

    It is asyncio's own selector loop (so transports, servers, TLS, pipes and
    subprocesses are asyncio's), except that the select-and-run cycle is done
    by a `Driver` running as a Trio task. Two ways to run it:

    - inside a Trio program, with ``async with aiotrio.open_loop() as loop``:
      the loop runs for the block, alongside the program's Trio tasks;
    - as a stock loop, ``aiotrio.new_event_loop()`` (a ``loop_factory``):
      each ``run_forever()``/``run_until_complete()`` call hosts the driver in
      a ``trio.run`` of its own, and the loop's state outlives those runs.

    `readiness` picks the I/O readiness backend: ``"selector"`` (the default)
    or ``"trio"``; see `aiotrio._readiness`. `clock` is the Trio clock hosted
    runs use (default: one reading ``time.monotonic()``), for example a
    ``trio.testing.MockClock``; inside ``open_loop()`` the Trio run's clock is
    used instead.
    """

    # asyncio's private state and methods this module and the driver use,
    # declared for mypy (typeshed leaves them out); handles are Any for the
    # same reason: their private fields are what the driver works with.
    _ready: collections.deque[Any]
    _scheduled: list[Any]
    _timer_cancelled_count: int
    _clock_resolution: float
    _stopping: bool
    _debug: bool
    _current_handle: asyncio.Handle | None
    _thread_id: int | None
    _selector: selectors.BaseSelector
    _closed: bool

    if TYPE_CHECKING:

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _call_soon(
            self,
            callback: Callable[..., object],
            args: tuple[Any, ...],
            context: contextvars.Context | None,
        ) -> Any: ...
        def _write_to_self(self) -> None: ...
        def _set_coroutine_origin_tracking(self, enabled: bool) -> None: ...
        def _process_events(self, event_list: Any) -> None: ...
        def _asyncgen_firstiter_hook(self, agen: Any) -> None: ...
        def _asyncgen_finalizer_hook(self, agen: Any) -> None: ...
        def _check_signal(self, sig: int) -> None: ...
        def _handle_signal(self, sig: int) -> None: ...
        def _add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> Any: ...
        def _remove_reader(self, fd: int) -> bool: ...

    _signal_handlers: dict[int, asyncio.Handle]

    def __init__(
        self, *, readiness: str | None = None, clock: trio.abc.Clock | None = None
    ) -> None:
        # Until BaseEventLoop.__init__ runs, look closed: if we fail before it,
        # its __del__ must not try to close a half-built loop.
        self._closed = True
        backend = make_readiness(readiness)
        self._trio = TrioSide(backend, SignalHandlers(self))
        if clock is not None:
            self._trio.use_clock(clock)
        super().__init__(backend.selector)
        self._trio.driver = Driver(self, backend)

    @property
    def readiness(self) -> str:
        """The name of the I/O readiness backend: "selector" or "trio"."""
        return self._trio.readiness.name

    # -- time and scheduling -------------------------------------------------------

    def time(self) -> float:
        """The loop's clock: Trio's clock inside open_loop(), time.monotonic() hosted."""
        return self._trio.now()

    def call_soon(
        self,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        # BaseEventLoop.call_soon, plus waking a parked driver: Trio tasks
        # share this thread and may schedule work while the driver sleeps.
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        handle = self._call_soon(callback, args, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        if self._trio.intercept:
            self._intercept_scheduled(handle)
        return handle  # type: ignore[no-any-return]

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        # BaseEventLoop.call_at, plus telling a parked driver about an earlier timer.
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
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
        self._trio.intercept = NOTHING
        self._write_to_self()

    def _intercept_scheduled(self, handle: Any) -> None:
        if self._trio.intercept == EAGER_STEP:
            # A task's first step (see bridge.start_asyncio_task): run it now.
            self._trio.intercept = self._trio.intercept_after_eager_step
            ready = self._ready
            if ready and ready[-1] is handle:  # just appended by _call_soon
                ready.pop()
                # Task.__init__ registers the task only after this call_soon
                # returns; eager_start (3.12+) registers it before the step.
                asyncio.tasks._register_task(handle._callback.__self__)
                handle._run()
        else:
            self._wake()

    # -- running -------------------------------------------------------------------

    def run_forever(self) -> None:
        """Run until stop() is called, hosting the driver in a trio.run of its own."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        self._thread_id = threading.get_ident()
        try:
            _hosting.run_hosted(self)
        finally:
            self._stopping = False
            self._thread_id = None
            self._set_coroutine_origin_tracking(False)

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if not self.is_closed():
            stop_watching_children(self)
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
        transport = unix_events._UnixSubprocessTransport(  # type: ignore[attr-defined]
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
        watch_child(self, transport.get_pid(), transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await asyncio.shield(transport._wait())
            raise
        return transport  # type: ignore[no-any-return]

    # -- used by the hosting and bridge modules -----------------------------------

    def _start_serving_in_trio(self, nursery: trio.Nursery, *, hosted: bool) -> None:
        """The loop is about to be driven inside the current Trio run."""
        side = self._trio
        if not hosted:
            side.use_clock(trio.lowlevel.current_clock())
        side.nursery = nursery
        side.readiness.attach(nursery)

    def _stop_serving_in_trio(self) -> None:
        self._trio.nursery = None
        self._trio.readiness.detach()
