"""`Bridges`: one loop's in-flight bridge calls, in both directions.

Owns every per-call registry and the steps that end them when the loop stops:

- the calls started by ``run_trio`` (each a `TrioCallFuture`, which knows
  the Trio task running it), run by the loop's bridge workers (`_Worker`),
  long-lived Trio tasks in the nursery the loop serves in;
- the Trio tasks parked on an asyncio future (each an `AsyncioWaiter`, which
  knows its future), released if the loop stops serving first.

Nothing else reads or writes these registries; the bridge functions
(`aiotrio._bridge`) and the shutdown (`aiotrio._open_loop`) go through the
methods here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import outcome
import trio

from ._asyncio_internals import awaited_future
from ._loop_var import current_loop_var

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from ._loop import EventLoop

T = TypeVar("T")


class ParkedDriver(Protocol):
    """What bridge workers may do for the loop's parked driver (`aiotrio._driver.Driver`).

    A worker that finishes a call while the driver is parked runs the batch
    that the call's result makes in its own Trio step, instead of waking the
    driver for it: `hold_parked` before settling the call's future (True:
    the driver stays parked, and the worker then calls `run_parked_batch`,
    or `wake` if it cannot, without a Trio checkpoint in between).
    """

    def hold_parked(self) -> bool: ...

    def run_parked_batch(self) -> None: ...

    def wake(self) -> None: ...


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

    __slots__ = (
        "_blocked",
        "_interrupted",
        "_on_cancel",
        "_released",
        "cancel_exc",
        "cancelled_by_interrupt",
        "future",
        "task",
    )

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
        # A second Ctrl-C came while the task was not parked (`interrupt`).
        self._interrupted = False
        #: The cancel request's exception (Cancelled or KeyboardInterrupt).
        self.cancel_exc: BaseException | None = None
        #: Whether the cancel request was a Ctrl-C (known from `abort` on,
        #: before the task resumes to set `cancel_exc`).
        self.cancelled_by_interrupt = False

    @_protected
    def abort(self, raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
        self._blocked = False
        on_cancel, self._on_cancel = self._on_cancel, None
        if on_cancel is not None:
            try:
                raise_cancel()  # only raises: which request this is
            except KeyboardInterrupt:
                self.cancelled_by_interrupt = True
            except BaseException:  # trio.Cancelled
                pass
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
        if self._interrupted:
            self.cancel_exc = KeyboardInterrupt()
            return False
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
        """Stop waiting with KeyboardInterrupt (the future keeps running).

        A task woken by its cancel request but not yet parked again (it has
        not run since) is told by `block_again` instead.
        """
        if self._blocked:
            self._wake(outcome.Error(KeyboardInterrupt()))
        else:
            self._interrupted = True

    def _wake(self, result: outcome.Outcome[None]) -> None:
        if self._blocked:
            self._blocked = False
            trio.lowlevel.reschedule(self.task, result)


class TrioCallFuture(asyncio.Future[T]):
    """The asyncio side of a Trio call started by ``run_trio``.

    The call runs on one of the loop's bridge workers (`Bridges`), a Trio task
    that runs it in a copy of the caller's context and under the worker's
    name for the call. ``cancel()`` cancels the call and returns True, but the
    future stays pending until the call has exited; it then ends cancelled if
    the call ended because of that request, or with the call's outcome
    otherwise (a call that finishes anyway, shielded or before its next
    checkpoint, gives its result, as an awaited asyncio task that catches the
    cancellation does).

    The request is not lost then: the asyncio task that started the call gets
    the result, and the same request again at its next ``await`` (as Trio keeps
    a cancellation pending until a checkpoint delivers it), unless that task
    withdrew it meanwhile (``uncancel()``, as ``asyncio.timeout()`` does) or
    finished. Otherwise a task looping on Trio calls that finish before their
    next checkpoint could absorb every cancellation, and the shutdown of
    ``asyncio.run()`` or ``open_loop()``, which cancels each task once, would
    wait for it forever.
    """

    __slots__ = (
        "_cancel_called",
        "_cancel_message",
        "_worker",
        "args",
        "async_fn",
        "caller",
        "cancel_requested",
        "trio_task",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        async_fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
    ) -> None:
        super().__init__(loop=loop)
        #: The asyncio task that started the call (None outside a task).
        self.caller: asyncio.Task[Any] | None = asyncio.current_task(loop)
        #: What the worker calls: ``async_fn(*args)``.
        self.async_fn: Callable[..., Awaitable[T]] = async_fn
        self.args: tuple[Any, ...] = args
        #: The Trio task running the call, once a worker has taken it.
        self.trio_task: trio.lowlevel.Task | None = None
        # The worker while it runs the call (it cancels the worker's scope).
        self._worker: _Worker | None = None
        self._cancel_message: Any = None
        #: cancel() was called (by the asyncio side), not only the call cancelled.
        self.cancel_requested: bool = False
        self._cancel_called = False

    @property
    def cancel_called(self) -> bool:
        """Whether the Trio call was cancelled (by `cancel` or the loop's shutdown)."""
        return self._cancel_called

    @_protected
    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the Trio call; the future ends when the call has exited."""
        if self.done():
            return False
        if not self._cancel_called:
            self._cancel_message = msg
            self.cancel_trio()
        self.cancel_requested = True
        return True

    def cancel_trio(self) -> None:
        """Cancel the Trio call only (what the loop's shutdown does).

        A call that has not started yet still starts, in a cancelled scope.
        """
        self._cancel_called = True
        worker = self._worker
        if worker is not None:
            worker.scope.cancel()

    @_protected
    def settle(self, result: outcome.Outcome[T] | None) -> None:
        """Resolve with the call's outcome; None means it was cancelled."""
        if self.done():
            return
        if result is None:
            super().cancel(msg=self._cancel_message)
            return
        if type(result) is outcome.Value:  # not isinstance: an ABC check costs more
            self.set_result(cast("outcome.Value[T]", result).value)
        else:
            self.set_exception(cast("outcome.Error", result).error)
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


class _Worker:
    """A long-lived Trio task of the loop that runs ``run_trio`` calls one at a time.

    Spawning a Trio task and opening a cancel scope per call were 40% of a
    call's cost (benchmarks/ANALYSIS.md); handing a call to a worker is one
    reschedule. While
    it waits for a call it is parked (`park`), listed among the idle workers.
    Its `scope` encloses the calls it runs and is replaced once a call has
    cancelled it, so cancelling one call never reaches another.
    """

    __slots__ = ("_idle", "batching", "context", "holds_driver", "pending", "scope", "task")

    def __init__(self, task: trio.lowlevel.Task, idle: list[_Worker]) -> None:
        self.task = task
        self._idle = idle
        self.scope = trio.CancelScope()
        # What the worker runs in between calls: nothing of its last caller's.
        self.context = contextvars.Context()
        #: It settled its call with the driver held parked (`ParkedDriver`).
        self.holds_driver = False
        #: It runs the parked driver's batch now, listed as idle: a call
        #: handed to it meanwhile waits in `pending` (it cannot be rescheduled).
        self.batching = False
        self.pending: TrioCallFuture[Any] | None = None

    def hand(self, call: TrioCallFuture[Any], name: str) -> None:
        """Give the parked worker `call`: it runs it in a copy of the current context.

        Trio runs each step of a task in ``task.context``, so the calls the
        worker runs see what a new task spawned here would see.
        """
        task = self.task
        task.context = contextvars.copy_context()
        task.name = name
        call.trio_task = task
        if self.batching:
            self.pending = call  # taken after the batch (Bridges._next_call)
        else:
            trio.lowlevel.reschedule(task, outcome.Value(call))

    def park(self) -> None:
        """Before waiting for the next call (handed by `hand`; `abort` ends the wait)."""
        task = self.task
        task.context = self.context
        task.name = IDLE_WORKER_NAME
        self._idle.append(self)

    def abort(self, _: Callable[[], Any]) -> trio.lowlevel.Abort:
        # Cancelled while idle (the loop stopped serving): leave the list.
        self._idle.remove(self)
        return trio.lowlevel.Abort.SUCCEEDED


#: The name a bridge worker has while it waits for a call.
IDLE_WORKER_NAME = "<aiotrio run_trio worker, idle>"

# Idle workers kept per loop; a worker that finishes a call while this many
# wait already exits. Sequential calls need one; a burst of more concurrent
# calls spawns more, which then go back to this.
_MAX_IDLE_WORKERS = 8


def is_idle_worker(task: trio.lowlevel.Task) -> bool:
    """Whether `task` is a bridge worker waiting for a call (plumbing, no user code)."""
    return task.name == IDLE_WORKER_NAME and task.coro.cr_code is Bridges._work.__code__


def task_name(fn: object) -> str:
    """The name Trio gives a task spawned to run `fn`."""
    if isinstance(fn, functools.partial):
        fn = fn.func
    try:
        return f"{fn.__module__}.{fn.__qualname__}"  # type: ignore[attr-defined]
    except AttributeError:
        return repr(fn)


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
        "_driver",
        "_idle_workers",
        "_loop",
        "_nursery",
        "_trio_calls",
        "_trio_calls_done",
        "handoffs",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, *, names_loop: bool = True) -> None:
        self._loop = loop
        self._current = cast("EventLoop", loop) if names_loop else None
        # Where run_trio() starts Trio tasks, while the loop serves in Trio.
        self._nursery: trio.Nursery | None = None
        self._trio_calls: set[TrioCallFuture[Any]] = set()
        self._trio_calls_done: trio.Event | None = None
        # Bridge workers parked until a call comes (see `_Worker`), last in first out.
        self._idle_workers: list[_Worker] = []
        #: Calls handed to a worker that has not run since (the driver reads it).
        self.handoffs = 0
        # The loop's driver, for batches run while it is parked (`ParkedDriver`).
        self._driver: ParkedDriver | None = None
        self._asyncio_waiters: set[AsyncioWaiter] = set()
        # Set when the loop stops serving: Trio tasks waiting for asyncio work
        # that will not run in this Trio run (see `until_detached`).
        self._detach_events: set[trio.Event] = set()

    def offer_parked_batches(self, driver: ParkedDriver) -> None:
        """Workers run `driver`'s batches while it is parked (see `ParkedDriver`)."""
        self._driver = driver

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
        """Run ``async_fn(*args)`` in a Trio task; return the future of its outcome.

        The call runs in a copy of the calling context, on an idle worker if
        there is one (a reschedule, no new task), else on a new one.
        """
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(f"{self._loop!r} is not running inside Trio")
        future: TrioCallFuture[T] = TrioCallFuture(self._loop, async_fn, args)
        idle = self._idle_workers
        if idle:
            idle.pop().hand(future, task_name(async_fn))
        else:
            nursery.start_soon(self._work, future, name=async_fn)
        self._trio_calls.add(future)
        self.handoffs += 1
        return future

    @_protected
    async def _work(self, call: TrioCallFuture[Any]) -> None:
        """A bridge worker's body: run `call`, then the calls handed to it while idle."""
        idle = self._idle_workers
        worker = _Worker(trio.lowlevel.current_task(), idle)
        call.trio_task = worker.task
        try:
            while True:
                with worker.scope:
                    while True:
                        await self._run_call(worker, call)
                        if call._cancel_called:
                            # The call's cancel may have cancelled our scope
                            # (a call cancelled after it ended leaves a new
                            # scope, which costs nothing else).
                            break
                        if self._nursery is None or len(idle) >= _MAX_IDLE_WORKERS:
                            return
                        call = await self._next_call(worker)
                # This scope has served a cancelled call: the next calls get a new one.
                worker.scope = trio.CancelScope()
                if self._nursery is None or len(idle) >= _MAX_IDLE_WORKERS:
                    return
                call = await self._next_call(worker)
        finally:
            if worker.holds_driver:  # leaving without the batch: the driver runs it
                worker.holds_driver = False
                assert self._driver is not None
                self._driver.wake()

    async def _next_call(self, worker: _Worker) -> TrioCallFuture[Any]:
        """Park `worker` until a call is handed to it.

        If it holds the parked driver, it first runs the driver's batch,
        listed as idle: a call that batch hands it (the caller's next
        ``run_trio``, typically) starts after one checkpoint, and the driver
        need not run at all.
        """
        worker.park()
        if worker.holds_driver:
            worker.holds_driver = False
            driver = self._driver
            assert driver is not None
            worker.batching = True
            try:
                driver.run_parked_batch()
            finally:
                worker.batching = False
            call = worker.pending
            if call is not None:
                worker.pending = None
                await trio.lowlevel.cancel_shielded_checkpoint()
                return call
        call = await trio.lowlevel.wait_task_rescheduled(worker.abort)
        return cast("TrioCallFuture[Any]", call)

    async def _run_call(self, worker: _Worker, call: TrioCallFuture[Any]) -> None:
        """Run `call` on `worker` (in the call's context) and settle its future.

        A cancellation of the worker's scope (this call's) propagates, for the
        scope to absorb; one from outside (the loop stopping) propagates too,
        and ends the worker.
        """
        self.handoffs -= 1
        if self._current is not None:
            current_loop_var.set(self._current)
        try:
            if call.cancel_requested:
                # cancel() returned True before the call began: end cancelled
                # without running it, as an asyncio task cancelled before its
                # first step does.
                self._settle(worker, call, None)
                return
            call._worker = worker
            if call._cancel_called:  # by the loop's shutdown: start, cancelled
                worker.scope.cancel()
            try:
                value = await _unprotected_call(call.async_fn, call.args)
            except BaseException as exc:
                # Our scope absorbs the cancel that cancel() asked for; one
                # from outside (the loop shutting down) keeps propagating.
                cancelled, rest = _split_cancelled(exc)
                self._settle(worker, call, None if rest is None else outcome.Error(rest))
                if cancelled is not None:
                    raise cancelled from None
                return
            self._settle(worker, call, outcome.Value(value))
        finally:
            call._worker = None
            call.args = ()  # the done future need not keep the arguments alive
            self._call_finished(call)

    @_protected
    def _settle(
        self, worker: _Worker, call: TrioCallFuture[Any], result: outcome.Outcome[Any] | None
    ) -> None:
        """Settle `call`, holding the driver parked if it is (see `ParkedDriver`)."""
        driver = self._driver
        if driver is not None and not self.handoffs and not call.done():
            # (Other handed calls not run yet: their results are best taken
            # by one batch of the driver's own, after they have run.)
            worker.holds_driver = driver.hold_parked()
        call.settle(result)

    @_protected
    def _call_finished(self, future: TrioCallFuture[Any]) -> None:
        self._trio_calls.discard(future)
        if not self._trio_calls and self._trio_calls_done is not None:
            self._trio_calls_done.set()

    def idle_workers(self) -> Iterator[trio.lowlevel.Task]:
        """The Trio tasks of the bridge workers waiting for a call (a snapshot)."""
        return iter([worker.task for worker in self._idle_workers])

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
            call.cancel_trio()
        await done.wait()

    # -- Trio -> asyncio -----------------------------------------------------------

    @_protected
    def add_waiter(self, waiter: AsyncioWaiter) -> None:
        self._asyncio_waiters.add(waiter)

    @_protected
    def discard_waiter(self, waiter: AsyncioWaiter) -> None:
        self._asyncio_waiters.discard(waiter)

    def waits_cancelled_by_interrupt(self) -> bool:
        """Whether a Ctrl-C already cancelled a Trio task's wait on asyncio (a first one)."""
        return any(waiter.cancelled_by_interrupt for waiter in self._asyncio_waiters)

    def interrupt_waiters(self) -> None:
        """A second Ctrl-C: every Trio task waiting on asyncio stops waiting now."""
        for waiter in list(self._asyncio_waiters):
            waiter.interrupt()

    def asyncio_waiters(self) -> Iterator[AsyncioWaiter]:
        """The Trio tasks waiting on asyncio futures (a snapshot)."""
        return iter(list(self._asyncio_waiters))
