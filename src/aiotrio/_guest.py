"""Trio as a guest of a running asyncio loop that is not an aiotrio loop.

The first ``run_trio`` (or ``trio_as_aio``) awaited on such a loop (stock
asyncio, uvloop, any ``loop_factory``) starts one Trio run on top of it with
``trio.lowlevel.start_guest_run``; later calls reuse it. The bridges keep
aiotrio's rules (see `_bridge`); what differs is how the two sides meet:

- Trio's scheduler runs in *ticks*, callbacks of the host loop. Between ticks
  the thread belongs to asyncio, and asyncio code (a future's done callback,
  ``Future.cancel`` of a bridged call) may reschedule Trio tasks and cancel
  Trio scopes directly: Trio supports that from the host's thread and wakes
  itself for it.
- While Trio waits for I/O, Trio's own I/O thread blocks on its epoll and
  hands the result back with ``call_soon_threadsafe``.
- Consecutive ticks that have work ready run in one host callback, for at
  most `TICK_BUDGET` seconds, so busy Trio code costs the host one callback
  per budget rather than one per scheduling round (aiotrio's fairness rule,
  the other way round).
- During a tick the thread looks like Trio: no running asyncio loop, sniffio
  says "trio" (Trio sets that) and async generators first iterated there are
  Trio's. `GuestRun.asyncio_context` switches back for the moments Trio code
  starts asyncio work.

Lifetime: the run ends when the host shuts down its async generators
(``asyncio.run``/``Runner`` and the documented manual shutdown call
``loop.shutdown_asyncgens()``): a sentinel async generator registered with the
loop cancels the run and waits for it, so Trio tasks are cancelled and awaited
while the loop still runs. `stop_guest()` ends it earlier. One run per thread
(Trio's rule), hence one guest per loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

import outcome
import trio

from . import _bridge
from ._asyncio_context import AsyncioContext

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

T = TypeVar("T")

#: Seconds of consecutive Trio ticks run in one host callback.
TICK_BUDGET = 0.0005

_EAGER_TASKS = sys.version_info >= (3, 12)
_events = asyncio.events
_get_asyncgen_hooks = sys.get_asyncgen_hooks
_set_asyncgen_hooks = sys.set_asyncgen_hooks
_perf_counter = time.perf_counter

# Trio allows one run per thread, guest or not: so one guest per thread.
_local = threading.local()
# The GuestRun of the Trio run the calling Trio code belongs to.
_GUEST: trio.lowlevel.RunVar[GuestRun | None] = trio.lowlevel.RunVar("aiotrio_guest", None)


class GuestRun:
    """One Trio run hosted by one asyncio loop, and its bridge bookkeeping."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: Where bridged Trio tasks start; None until the run's main task runs.
        self.nursery: trio.Nursery | None = None
        self.trio_calls: set[_bridge.TrioCallFuture[Any]] = set()
        self.asyncio_waiters: set[_bridge.AsyncioWaiter] = set()
        #: Done once the Trio run has finished, however it ended.
        self.finished: asyncio.Future[None] = loop.create_future()
        self.stopping = False
        self._main_scope: trio.CancelScope | None = None
        # Calls made before the main task opened its nursery.
        self._pending: list[tuple[contextvars.Context, Any, Any, tuple[Any, ...]]] = []
        # Trio's next tick, queued by the current one (run_sync_soon_not_threadsafe).
        self._queue: list[Callable[[], object]] = []
        self._trio_hooks: Any = None
        self._sentinel: AsyncGenerator[None, None] | None = None
        self._sentinel_closing = False
        self.asyncio_context: AsyncioContext

    # -- starting and ending ---------------------------------------------

    def start(self) -> None:
        """Start the Trio run; called from asyncio code on the running loop."""
        if trio.lowlevel.in_trio_run():
            raise RuntimeError(
                "aiotrio.run_trio() cannot start a Trio guest run on "
                f"{self.loop!r}: this thread is already inside a Trio run"
            )
        host_hooks = _get_asyncgen_hooks()
        # None hooks (a loop that sets none) are restored as None, as they should.
        self.asyncio_context = AsyncioContext(self.loop, *cast("Any", host_hooks))
        try:
            trio.lowlevel.start_guest_run(
                self._main,
                run_sync_soon_threadsafe=self._soon_threadsafe,
                # Trio calls it only from a tick (and once here): _run_ticks
                # runs what it queued right away, within its budget.
                run_sync_soon_not_threadsafe=self._queue.append,
                done_callback=self._done,
                # asyncio loops own signal.set_wakeup_fd (add_signal_handler,
                # uvloop always): Trio must not take it over.
                host_uses_signal_set_wakeup_fd=True,
                strict_exception_groups=True,
            )
        finally:
            # Trio installed its async generator hooks: they apply in ticks only.
            self._trio_hooks = _get_asyncgen_hooks()
            _set_asyncgen_hooks(*host_hooks)
        _local.guest = self
        self.loop.call_soon(self._run_ticks, self._queue.pop())
        self._register_sentinel()

    def _register_sentinel(self) -> None:
        """Have the loop's async generator shutdown end this run first."""
        sentinel = _sentinel(self)
        step = sentinel.__anext__()  # the loop's firstiter hook registers it
        with contextlib.suppress(StopIteration):
            step.send(None)
        self._sentinel = sentinel

    def _close_sentinel(self) -> None:
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is None or self._sentinel_closing:
            return
        # The run is over, so its finally block does not await: close it now,
        # before the loop's finalizer would have to (maybe on a closed loop).
        with contextlib.suppress(StopIteration):
            sentinel.aclose().send(None)

    def request_stop(self) -> None:
        """Cancel every Trio task of the run; the run then ends."""
        self.stopping = True
        if self._main_scope is not None:
            self._main_scope.cancel()

    async def stop(self) -> None:
        """End the run and wait until it has (from asyncio code)."""
        if not self.finished.done():
            self.request_stop()
        await asyncio.shield(self.finished)

    async def _main(self) -> None:
        _GUEST.set(self)
        async with trio.open_nursery() as nursery:
            self._main_scope = nursery.cancel_scope
            self.nursery = nursery
            pending, self._pending = self._pending, []
            for context, future, async_fn, args in pending:
                context.run(nursery.start_soon, _run_call, self, future, async_fn, args)
            if self.stopping:
                nursery.cancel_scope.cancel()
            await trio.sleep_forever()

    def _done(self, result: outcome.Outcome[None]) -> None:
        self.nursery = None
        if getattr(_local, "guest", None) is self:
            _local.guest = None
        self._close_sentinel()
        if not self.finished.done():
            self.finished.set_result(None)
        if isinstance(result, outcome.Error):
            interrupt = _interrupt_in(result.error)
            if interrupt is not None:
                raise interrupt  # Ctrl-C ends the host program, as without Trio
            self.loop.call_exception_handler(
                {"message": "aiotrio's Trio guest run failed", "exception": result.error}
            )

    # -- ticks -------------------------------------------------------------

    def _soon_threadsafe(self, tick: Callable[[], object]) -> None:
        # From Trio's I/O thread. A loop closed with the run still going
        # strands it: Trio warns that the run was abandoned.
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._run_ticks, tick)

    def _run_ticks(self, tick: Callable[[], object]) -> None:
        """One host callback: `tick`, then the ticks it queues, within TICK_BUDGET."""
        saved_loop = _events._get_running_loop()
        saved_hooks = _get_asyncgen_hooks()
        _events._set_running_loop(None)
        _set_asyncgen_hooks(*self._trio_hooks)
        queue = self._queue
        deadline = _perf_counter() + TICK_BUDGET
        count = 0
        try:
            while True:
                tick()
                if not queue:
                    break  # Trio waits for I/O in its thread, or the run is over
                tick = queue.pop()
                count += 1
                # The clock is read every 8 ticks: a tick costs a few us.
                if not count & 7 and _perf_counter() >= deadline:
                    self.loop.call_soon(self._run_ticks, tick)
                    break
        except BaseException:
            # An interrupt landed between ticks: keep the run going.
            if queue:
                self.loop.call_soon(self._run_ticks, queue.pop())
            raise
        finally:
            _set_asyncgen_hooks(*saved_hooks)
            _events._set_running_loop(saved_loop)

    # -- the bridges' primitives, guest flavour -----------------------------

    def start_trio_call(
        self, async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> _bridge.TrioCallFuture[T]:
        """Start ``async_fn(*args)`` as a Trio task in a copy of the caller's context."""
        if self.stopping:
            raise RuntimeError(f"the Trio guest run on {self.loop!r} is shutting down")
        future: _bridge.TrioCallFuture[T] = _bridge.TrioCallFuture(self.loop)
        self.trio_calls.add(future)
        nursery = self.nursery
        if nursery is None:
            self._pending.append((contextvars.copy_context(), future, async_fn, args))
        else:
            nursery.start_soon(_run_call, self, future, async_fn, args, name=async_fn)
        return future

    def start_asyncio_task(
        self,
        async_fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        eager: bool = False,
    ) -> asyncio.Future[T]:
        """Call `async_fn(*args)` in the host's asyncio world and schedule the result.

        As `_bridge.start_asyncio_task`: a copy of the caller's context, and
        with `eager` on 3.12+ the task's first step runs at once.
        """
        loop = self.loop
        if loop.is_closed():
            raise RuntimeError(f"{loop!r} is closed")
        context = contextvars.copy_context()
        saved = self.asyncio_context.enter()
        try:
            awaitable = context.run(async_fn, *args)
            if asyncio.isfuture(awaitable):
                return cast("asyncio.Future[T]", awaitable)
            if not inspect.iscoroutine(awaitable):
                if not inspect.isawaitable(awaitable):
                    raise TypeError(
                        f"run_asyncio() expected an async function, but {async_fn!r} "
                        f"returned {awaitable!r}"
                    )
                awaitable = _await(awaitable)
            if eager and _EAGER_TASKS and loop.get_task_factory() is None:
                return asyncio.Task(awaitable, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]
            return loop.create_task(awaitable, context=context)
        finally:
            self.asyncio_context.leave(saved)

    async def wait_asyncio_future(
        self, future: asyncio.Future[T], on_cancel: Callable[[], object] | None = None
    ) -> T:
        """`_bridge.wait_asyncio_future` for this run; the future's callback wakes Trio."""
        if future.done():
            await trio.lowlevel.cancel_shielded_checkpoint()
            return future.result()
        waiter = _bridge.AsyncioWaiter(trio.lowlevel.current_task(), on_cancel or future.cancel)
        self.asyncio_waiters.add(waiter)
        future.add_done_callback(waiter.on_done)
        try:
            await trio.lowlevel.wait_task_rescheduled(waiter.abort)
        finally:
            self.asyncio_waiters.discard(waiter)
        if future.cancelled() and waiter._raise_cancel is not None:
            waiter._raise_cancel()  # raises trio.Cancelled (or KeyboardInterrupt)
        return future.result()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _run_call(
    guest: GuestRun,
    future: _bridge.TrioCallFuture[T],
    async_fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
) -> None:
    try:
        try:
            with future.scope:
                value = await async_fn(*args)
        except BaseException as exc:
            # As in _bridge._run_trio_call: a Cancelled that our scope did not
            # absorb comes from the run ending and keeps propagating.
            cancelled, rest = _bridge._split_cancelled(exc)
            future.settle(None if rest is None else outcome.Error(rest))
            if cancelled is not None:
                raise cancelled from None
            return
        future.settle(None if future.scope.cancelled_caught else outcome.Value(value))
    finally:
        guest.trio_calls.discard(future)


async def _sentinel(guest: GuestRun) -> AsyncGenerator[None, None]:
    """Registered with the host loop; its ``aclose()`` ends the run first."""
    try:
        yield
    finally:
        guest._sentinel_closing = True
        if not guest.finished.done():
            await guest.stop()


def _interrupt_in(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt/SystemExit that ended a run, if one did."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            return error
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                found = _interrupt_in(inner)
                if found is not None:
                    return found
            return None
        error = error.__cause__  # type: ignore[assignment]
    return None


# -- finding the guest ------------------------------------------------------


def guest_of(loop: asyncio.AbstractEventLoop) -> GuestRun:
    """The guest run of running loop `loop`, started now if it has none (asyncio side)."""
    guest: GuestRun | None = getattr(_local, "guest", None)
    if guest is not None:
        if guest.loop is loop:
            return guest
        if guest.loop.is_closed():
            raise RuntimeError(
                f"the Trio guest run of {guest.loop!r} was abandoned: that loop was "
                "closed without ending it (asyncio.run and asyncio.Runner end it; by "
                "hand, run loop.shutdown_asyncgens() or aiotrio.stop_guest() before "
                "loop.close()), and Trio allows one run per thread"
            )
        raise RuntimeError(
            f"a Trio guest run started by aiotrio on {guest.loop!r} is still "
            "running in this thread, and Trio allows one run per thread: end it "
            "with `await aiotrio.stop_guest()` on that loop first"
        )
    guest = GuestRun(loop)
    guest.start()
    return guest


def current_guest() -> GuestRun | None:
    """The guest run the calling Trio code belongs to, if any."""
    try:
        return _GUEST.get()
    except RuntimeError:  # not in a Trio run at all
        return None


async def stop_guest() -> None:
    """End the Trio guest run of the running asyncio loop, if it has one.

    Awaited from asyncio code. Every Trio task of the run is cancelled (their
    ``run_trio`` callers see the cancellation as usual) and awaited; the
    function returns once the run has ended. A later ``run_trio`` on the loop
    starts a fresh run. Call it before closing a loop by hand unless the loop's
    ``shutdown_asyncgens()`` runs first (``asyncio.run`` and ``asyncio.Runner``
    do that).
    """
    loop = asyncio.get_running_loop()
    guest: GuestRun | None = getattr(_local, "guest", None)
    if guest is not None and guest.loop is loop:
        await guest.stop()
