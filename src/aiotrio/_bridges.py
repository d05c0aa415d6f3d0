"""`Bridges`: one loop's in-flight bridge calls, in both directions.

Owns every per-call registry and the steps that end them when the loop stops:

- the Trio tasks started by ``run_trio`` (each a `TrioCallFuture`, which
  knows the Trio task running it), started in the nursery the loop serves in;
- the Trio tasks parked on an asyncio future (each an `AsyncioWaiter`, which
  knows its future), released if the loop stops serving first.

Nothing else reads or writes these registries; the bridge functions
(`aiotrio._bridge`) and the shutdown (`aiotrio._open_loop`) go through the
methods here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar, cast

import outcome
import trio

from ._asyncio_internals import awaited_future
from ._loop_var import current_loop_var

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from ._loop import EventLoop

T = TypeVar("T")


# The bridges' bookkeeping runs inside asyncio callbacks and Trio tasks alike.
# A Ctrl-C raised in the middle of it would leave a call registered that no
# task will ever finish (and the loop's shutdown waiting for it): Trio delivers
# KeyboardInterrupt at the next checkpoint instead while these run. User code
# they call (Trio calls, asyncio tasks) stays interruptible.
_protected = trio.lowlevel.enable_ki_protection


@trio.lowlevel.disable_ki_protection
async def _unprotected_call(async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    """The user's function, interruptible by Ctrl-C like any Trio code."""
    return await async_fn(*args)


class AsyncioWaiter:
    """A Trio task parked until an asyncio future is done.

    `abort` is the task's abort function. The first cancel request calls
    `on_cancel` (cancel the future, by default) and wakes the task with the
    request's exception, which `wait_asyncio_future` keeps (`cancel_exc`)
    while it waits again, shielded, for the future: Trio tries one abort per
    blocking call, so only a new wait lets a second Ctrl-C (KeyboardInterrupt
    reaches shielded waits) stop the waiting, as it does in asyncio. The loop
    keeps its waiters so that, should it stop serving first, none is left
    parked forever (`release`).
    """

    __slots__ = ("_blocked", "_on_cancel", "_released", "cancel_exc", "future", "task")

    def __init__(
        self,
        task: trio.lowlevel.Task,
        future: asyncio.Future[Any],
        on_cancel: Callable[[], object],
    ) -> None:
        self.task = task
        self.future = future
        self._on_cancel: Callable[[], object] | None = on_cancel
        # Whether the task is parked in wait_task_rescheduled on our behalf.
        self._blocked = True
        self._released = False
        #: The cancel request's exception (Cancelled or KeyboardInterrupt).
        self.cancel_exc: BaseException | None = None

    @_protected
    def abort(self, raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
        self._blocked = False
        on_cancel, self._on_cancel = self._on_cancel, None
        if on_cancel is not None:
            on_cancel()
        return trio.lowlevel.Abort.SUCCEEDED

    @property
    def cancel_requested(self) -> bool:
        """Whether Trio asked to cancel the wait (`abort` ran)."""
        return self._on_cancel is None

    def block_again(self) -> bool:
        """Before waiting again: whether there is still something to wait for.

        Not once the loop has released its waiters (it stopped serving between
        the cancel request and now): nothing would wake the task.
        """
        if self.future.done() or self._released:
            return False
        self._blocked = True
        return True

    @_protected
    def on_done(self, _: object) -> None:
        self._wake(outcome.Value(None))

    def release(self) -> None:
        """The loop stopped serving before the future was done."""
        self._released = True
        if self.cancel_exc is not None:
            self._wake(outcome.Error(self.cancel_exc))
        else:
            self._wake(
                outcome.Error(RuntimeError("the aiotrio loop stopped before this call finished"))
            )

    def interrupt(self) -> None:
        """Stop waiting with KeyboardInterrupt (the future keeps running)."""
        self._wake(outcome.Error(KeyboardInterrupt()))

    def _wake(self, result: outcome.Outcome[None]) -> None:
        if self._blocked:
            self._blocked = False
            trio.lowlevel.reschedule(self.task, result)


class TrioCallFuture(asyncio.Future[T]):
    """The asyncio side of a Trio task started by ``run_trio``.

    ``cancel()`` cancels the Trio task and returns True, but the future stays
    pending until the Trio task has exited; it then ends cancelled if the task
    ended because of that request, or with the task's outcome otherwise (a
    task that finishes anyway, shielded or before its next checkpoint, gives
    its result, as an awaited asyncio task that catches the cancellation does).

    The request is not lost then: the asyncio task that started the call gets
    the result, and the same request again at its next ``await`` (as Trio keeps
    a cancellation pending until a checkpoint delivers it), unless that task
    withdrew it meanwhile (``uncancel()``, as ``asyncio.timeout()`` does) or
    finished. Otherwise a task looping on Trio calls that finish before their
    next checkpoint could absorb every cancellation, and the shutdown of
    ``asyncio.run()`` or ``open_loop()``, which cancels each task once, would
    wait for it forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        #: The asyncio task that started the call (None outside a task).
        self.caller: asyncio.Task[Any] | None = asyncio.current_task(loop)
        self.scope: trio.CancelScope = trio.CancelScope()
        #: The Trio task running the call, once it has started.
        self.trio_task: trio.lowlevel.Task | None = None
        self._cancel_message: Any = None
        #: cancel() was called (by the asyncio side), not only the scope cancelled.
        self.cancel_requested: bool = False

    @_protected
    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the Trio task; the future ends when the task has exited."""
        if self.done():
            return False
        if not self.scope.cancel_called:
            self._cancel_message = msg
            self.scope.cancel()
        self.cancel_requested = True
        return True

    @_protected
    def settle(self, result: outcome.Outcome[T] | None) -> None:
        """Resolve with the Trio task's outcome; None means it was cancelled."""
        if self.done():
            return
        if result is None:
            super().cancel(msg=self._cancel_message)
            return
        if isinstance(result, outcome.Error):
            self.set_exception(result.error)
        else:
            self.set_result(result.unwrap())
        if self.cancel_requested and self.caller is not None:
            self.add_done_callback(self._cancel_caller_again)

    def _cancel_caller_again(self, _: object) -> None:
        """The caller got the outcome of a call it asked to cancel: cancel it
        again, at its next await, unless it has withdrawn the request or finished."""
        caller = self.caller
        if caller is None or caller.done() or not caller.cancelling():
            self.caller = None
            return
        waiting_on = awaited_future(caller)
        if waiting_on is not None and waiting_on.done():
            # The caller has not resumed yet (its wake-up is queued, maybe
            # behind a future chained to this one): look again after it.
            self.get_loop().call_soon(self._cancel_caller_again, None)
            return
        self.caller = None
        caller.uncancel()  # the same request, not a new one
        caller.cancel(self._cancel_message)


def _split_cancelled(
    exc: BaseException,
) -> tuple[BaseException | None, BaseException | None]:
    """Split `exc` into its trio.Cancelled part and the rest."""
    if isinstance(exc, trio.Cancelled):
        return exc, None
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)  # (narrowed, members unknown)
        return group.split(trio.Cancelled)
    return None, exc


class Bridges:
    """The in-flight bridge calls of one loop (see the module docstring).

    `loop` is an aiotrio loop, or (`names_loop` false) a loop of another kind
    that hosts a Trio guest run (`aiotrio._guest`); only aiotrio loops are
    what ``current_loop()`` names in the Trio tasks started here.
    """

    __slots__ = (
        "_asyncio_waiters",
        "_current",
        "_detach_events",
        "_loop",
        "_nursery",
        "_trio_calls",
        "_trio_calls_done",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, *, names_loop: bool = True) -> None:
        self._loop = loop
        self._current = cast("EventLoop", loop) if names_loop else None
        # Where run_trio() starts Trio tasks, while the loop serves in Trio.
        self._nursery: trio.Nursery | None = None
        self._trio_calls: set[TrioCallFuture[Any]] = set()
        self._trio_calls_done: trio.Event | None = None
        self._asyncio_waiters: set[AsyncioWaiter] = set()
        # Set when the loop stops serving: Trio tasks waiting for asyncio work
        # that will not run in this Trio run (see `until_detached`).
        self._detach_events: set[trio.Event] = set()

    # -- serving -------------------------------------------------------------------

    def attach(self, nursery: trio.Nursery) -> None:
        """The loop serves in a Trio run now; Trio calls start in `nursery`."""
        self._nursery = nursery

    @_protected
    def detach(self) -> None:
        """The loop stopped serving: refuse new Trio calls, release every waiter."""
        self._nursery = None
        events = list(self._detach_events)
        self._detach_events.clear()
        for event in events:
            event.set()
        waiters = list(self._asyncio_waiters)
        self._asyncio_waiters.clear()
        for waiter in waiters:
            waiter.release()

    @property
    def serving(self) -> bool:
        """Whether the loop serves in a Trio run (Trio calls can start)."""
        return self._nursery is not None

    @_protected
    def set_when_detached(self, event: trio.Event) -> None:
        """Set `event` when the loop stops serving (at once if it has stopped)."""
        if self._nursery is None:
            event.set()
        else:
            self._detach_events.add(event)

    @_protected
    def forget_event(self, event: trio.Event) -> None:
        self._detach_events.discard(event)

    # -- asyncio -> Trio -----------------------------------------------------------

    @_protected
    def start_trio_call(
        self, async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> TrioCallFuture[T]:
        """Start ``async_fn(*args)`` as a Trio task; return the future of its outcome.

        The Trio task runs in a copy of the calling context.
        """
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(f"{self._loop!r} is not running inside Trio")
        future: TrioCallFuture[T] = TrioCallFuture(self._loop)
        self._trio_calls.add(future)
        nursery.start_soon(self._run_trio_call, future, async_fn, args, name=async_fn)
        return future

    @_protected
    async def _run_trio_call(
        self,
        future: TrioCallFuture[T],
        async_fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
    ) -> None:
        future.trio_task = trio.lowlevel.current_task()
        if self._current is not None:
            current_loop_var.set(self._current)
        try:
            if future.cancel_requested:
                # cancel() returned True before the task began: end cancelled
                # without running it, as an asyncio task cancelled before its
                # first step does.
                future.settle(None)
                return
            try:
                with future.scope:
                    value = await _unprotected_call(async_fn, args)
            except BaseException as exc:
                # Our own scope has already absorbed a cancel that the asyncio
                # side asked for; a Cancelled still here comes from outside
                # (the loop shutting down) and must keep propagating.
                cancelled, rest = _split_cancelled(exc)
                future.settle(None if rest is None else outcome.Error(rest))
                if cancelled is not None:
                    raise cancelled from None
                return
            # `value` is bound unless the scope caught a cancel.
            was_cancelled = future.scope.cancelled_caught
            future.settle(None if was_cancelled else outcome.Value(value))  # pyright: ignore[reportPossiblyUnboundVariable, reportArgumentType]
        finally:
            self._call_finished(future)

    @_protected
    def _call_finished(self, future: TrioCallFuture[Any]) -> None:
        self._trio_calls.discard(future)
        if not self._trio_calls and self._trio_calls_done is not None:
            self._trio_calls_done.set()

    def trio_calls(self) -> Iterator[TrioCallFuture[Any]]:
        """The Trio calls still running (a snapshot)."""
        return iter(list(self._trio_calls))

    async def cancel_trio_calls(self) -> None:
        """Cancel every running Trio call and wait until all have exited."""
        if not self._trio_calls:
            return
        self._trio_calls_done = done = trio.Event()
        for call in list(self._trio_calls):
            # Not call.cancel(): a call the loop's shutdown cancels still
            # starts (and meets the cancellation at its first checkpoint), as
            # a fire-and-forget trio-asyncio run_trio_task expects.
            call.scope.cancel()
        await done.wait()

    # -- Trio -> asyncio -----------------------------------------------------------

    @_protected
    def add_waiter(self, waiter: AsyncioWaiter) -> None:
        self._asyncio_waiters.add(waiter)

    @_protected
    def discard_waiter(self, waiter: AsyncioWaiter) -> None:
        self._asyncio_waiters.discard(waiter)

    def interrupt_waiters(self) -> None:
        """A second Ctrl-C: every Trio task waiting on asyncio stops waiting now."""
        for waiter in list(self._asyncio_waiters):
            waiter.interrupt()

    def asyncio_waiters(self) -> Iterator[AsyncioWaiter]:
        """The Trio tasks waiting on asyncio futures (a snapshot)."""
        return iter(list(self._asyncio_waiters))
