"""Trio as a guest of a running asyncio loop that is not an aiotrio loop.

The first ``run_trio`` (or ``trio_as_aio``) awaited on such a loop (stock
asyncio, uvloop, any ``loop_factory``) starts one Trio run on top of it with
``trio.lowlevel.start_guest_run``; later calls reuse it. The bridges keep
aiotrio's rules (see `_bridge`); what differs is how the two sides meet:

- Trio's scheduler runs in *ticks*, callbacks of the host loop. Between ticks
  the thread belongs to asyncio, and asyncio code (a future's done callback,
  ``Future.cancel`` of a bridged call, ``run_trio`` spawning a task) may
  reschedule Trio tasks, cancel Trio scopes and start tasks in a nursery
  directly: Trio supports that from the host's thread and wakes itself for
  it. So the guest keeps its bridge calls in a `Bridges` of its own, exactly
  as an aiotrio loop does; what differs is only where Trio code meets asyncio
  code (`GuestRun.start_asyncio_task`) and how the run is started and ended.
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
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

import outcome
import trio

from . import _bridge
from ._asyncio_context import AsyncioContext
from ._asyncio_internals import get_running_loop_or_none, set_running_loop
from ._bridges import Bridges

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

T = TypeVar("T")

#: Seconds of consecutive Trio ticks run in one host callback.
TICK_BUDGET = 0.0005

_EAGER_TASKS = sys.version_info >= (3, 12)
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
        #: The bridge calls; Trio tasks start in the run's main nursery.
        self.bridges = Bridges(loop, names_loop=False)
        #: Done once the Trio run has finished, however it ended.
        self.finished: asyncio.Future[None] = loop.create_future()
        self.stopping = False
        self._main_scope: trio.CancelScope | None = None
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
            # In an empty context: the run's system tasks must not inherit
            # the first caller's context variables.
            contextvars.Context().run(
                trio.lowlevel.start_guest_run,
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
        # The first ticks run now, until the main task has opened the nursery
        # (then Trio waits): the caller's run_trio can start its task at once.
        self._run_ticks(self._queue.pop())
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
        try:
            async with trio.open_nursery() as nursery:
                self._main_scope = nursery.cancel_scope
                self.bridges.attach(nursery)
                if self.stopping:
                    nursery.cancel_scope.cancel()
                await trio.sleep_forever()
        finally:
            self.bridges.detach()

    def _done(self, result: outcome.Outcome[None]) -> None:
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
        saved_loop = get_running_loop_or_none()
        saved_hooks = _get_asyncgen_hooks()
        set_running_loop(None)
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
                # The clock is read every 8 ticks: a tick costs a few us. The
                # first ticks of a run go on until its nursery is open.
                if not count & 7 and _perf_counter() >= deadline and self._main_scope:
                    self.loop.call_soon(self._run_ticks, tick)
                    break
        except BaseException:
            # An interrupt landed between ticks: keep the run going.
            if queue:
                self.loop.call_soon(self._run_ticks, queue.pop())
            raise
        finally:
            _set_asyncgen_hooks(*saved_hooks)
            set_running_loop(saved_loop)

    # -- Trio code meeting asyncio code -----------------------------------------

    def start_asyncio_task(
        self,
        async_fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        eager: bool = False,
    ) -> asyncio.Future[T]:
        """`_bridge.start_asyncio_task` for the host loop, called from a Trio task.

        The call happens in the host's asyncio world (running loop, sniffio,
        async generator hooks), in a copy of the caller's context; with
        `eager` on 3.12+ the task's first step runs at once (3.11 has no eager
        tasks, and a foreign loop offers no way to emulate them).
        """
        loop = self.loop
        if loop.is_closed():
            raise RuntimeError(f"{loop!r} is closed")
        context = contextvars.copy_context()
        saved = self.asyncio_context.enter()
        try:
            awaitable = _bridge.call_async_fn(context, async_fn, args)
            if asyncio.isfuture(awaitable):
                return awaitable
            if eager and _EAGER_TASKS and loop.get_task_factory() is None:
                return asyncio.Task(awaitable, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]
            return loop.create_task(awaitable, context=context)
        finally:
            self.asyncio_context.leave(saved)


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
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (KeyboardInterrupt, SystemExit)):
            return current
        if isinstance(current, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", current)
            for inner in group.exceptions:
                found = _interrupt_in(inner)
                if found is not None:
                    return found
            return None
        current = current.__cause__
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

    :flavour: asyncio

    Awaited from asyncio code on a loop that is not an aiotrio loop (see
    "Trio inside an asyncio program" in the how-to guides). Every Trio task
    of the run is cancelled (their ``run_trio`` callers see the cancellation
    as usual) and awaited; the function returns once the run has ended. A
    later ``run_trio`` on the loop starts a fresh run. Call it before closing
    a loop by hand unless the loop's ``shutdown_asyncgens()`` runs first
    (``asyncio.run`` and ``asyncio.Runner`` do that).
    """
    loop = asyncio.get_running_loop()
    guest: GuestRun | None = getattr(_local, "guest", None)
    if guest is not None and guest.loop is loop:
        await guest.stop()
