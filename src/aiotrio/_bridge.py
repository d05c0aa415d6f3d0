"""The bridges: asyncio work awaited from Trio, and Trio work awaited from asyncio.

Cancellation follows each side's rules:

- Trio -> asyncio (`run_asyncio`, `wait_asyncio_future`): when Trio cancels
  the waiting task, the asyncio future is cancelled and the Trio task keeps
  waiting until it is done. It then sees `trio.Cancelled` if the future ended
  cancelled, and the future's outcome otherwise (the work happened). An
  asyncio-side cancellation that Trio did not ask for arrives as
  `asyncio.CancelledError`.
- asyncio -> Trio (`run_trio`): cancelling the asyncio task cancels the Trio
  task, and the asyncio task resumes only once the Trio task has exited,
  exactly as when one asyncio task awaits another.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from typing import TYPE_CHECKING, Any, TypeVar, cast

import outcome
import trio

from ._current import current_loop, current_loop_var, running_aiotrio_loop
from ._trio_side import EAGER_STEP

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from ._loop import EventLoop

T = TypeVar("T")

# asyncio.Task(..., eager_start=True) is new in 3.12.
_EAGER_TASKS = sys.version_info >= (3, 12)


class AsyncioWaiter:
    """A Trio task parked until an asyncio future is done.

    `abort` is the task's abort function: the first cancel request calls
    `on_cancel` (cancel the future, by default) and the task keeps waiting.
    The loop keeps its waiters so that, should it stop serving first, none is
    left parked forever (`release`).
    """

    __slots__ = ("_on_cancel", "_raise_cancel", "_task", "_woken")

    def __init__(self, task: trio.lowlevel.Task, on_cancel: Callable[[], object]) -> None:
        self._task = task
        self._on_cancel: Callable[[], object] | None = on_cancel
        self._woken = False
        self._raise_cancel: Callable[[], Any] | None = None

    def abort(self, raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
        self._raise_cancel = raise_cancel
        on_cancel, self._on_cancel = self._on_cancel, None
        if on_cancel is not None:
            on_cancel()
        return trio.lowlevel.Abort.FAILED

    def on_done(self, _: object) -> None:
        self._wake(outcome.Value(None))

    def release(self) -> None:
        """The loop stopped serving before the future was done."""
        if self._raise_cancel is not None:
            self._wake(outcome.capture(self._raise_cancel))
        else:
            self._wake(
                outcome.Error(RuntimeError("the aiotrio loop stopped before this call finished"))
            )

    def _wake(self, result: outcome.Outcome[None]) -> None:
        if not self._woken:
            self._woken = True
            trio.lowlevel.reschedule(self._task, result)


async def wait_asyncio_future(
    loop: EventLoop,
    future: asyncio.Future[T],
    on_cancel: Callable[[], object] | None = None,
) -> T:
    """Wait in Trio for `future`, which runs on `loop`; see the module docstring.

    When Trio cancels the wait, `on_cancel` is called (default:
    ``future.cancel``) and the wait goes on until `future` is done. A future
    that is done already costs one schedule point, no cancel point: its work
    has happened.
    """
    if future.done():
        await trio.lowlevel.cancel_shielded_checkpoint()
        return future.result()
    waiter = AsyncioWaiter(trio.lowlevel.current_task(), on_cancel or future.cancel)
    waiters = loop._trio.asyncio_waiters
    waiters.add(waiter)
    future.add_done_callback(waiter.on_done)
    try:
        await trio.lowlevel.wait_task_rescheduled(waiter.abort)
    finally:
        waiters.discard(waiter)
    if future.cancelled() and waiter._raise_cancel is not None:
        waiter._raise_cancel()  # raises trio.Cancelled (or KeyboardInterrupt)
    return future.result()


def start_asyncio_task(
    loop: EventLoop,
    async_fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    *,
    eager: bool = False,
) -> asyncio.Future[T]:
    """Call `async_fn(*args)` in the loop's asyncio context and schedule the result.

    The call happens there (not in Trio) because many "async functions" of
    asyncio libraries are plain functions that need a running loop. The task
    gets a copy of the caller's context: values set before the call are seen,
    changes made in it do not leak back.

    With `eager` (and no task factory set on the loop), the task's first step
    runs right here, as asyncio's eager tasks do (``eager_start``, 3.12+; on
    3.11 the loop runs the step the new task schedules at once instead of
    queueing it): a coroutine that finishes without suspending never needs
    the driver, which saves the caller a round trip through Trio's scheduler.
    """
    if loop._trio.driver.exit_requested:
        raise RuntimeError(f"{loop!r} is shutting down")
    context = contextvars.copy_context()
    asyncio_context = loop._trio.driver.asyncio_context
    saved = asyncio_context.enter()
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
        if eager and loop.get_task_factory() is None:
            if _EAGER_TASKS:
                return asyncio.Task(awaitable, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]
            side = loop._trio  # 3.11: see EAGER_STEP
            side.intercept_after_eager_step = side.intercept
            side.intercept = EAGER_STEP
            try:
                return loop.create_task(awaitable, context=context)
            finally:
                if side.intercept == EAGER_STEP:  # the step was never scheduled
                    side.intercept = side.intercept_after_eager_step
        return loop.create_task(awaitable, context=context)
    finally:
        asyncio_context.leave(saved)


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def run_asyncio(async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``await async_fn(*args)`` as an asyncio task and return its result.

    A Trio-flavored function: call it from Trio code inside ``open_loop()``.
    Exceptions propagate with their tracebacks; cancellation follows the
    module docstring's rules.
    """
    if inspect.iscoroutine(async_fn) or asyncio.isfuture(async_fn):
        raise TypeError(
            "run_asyncio() takes an async function and its arguments, not "
            f"{async_fn!r}; use `await aiotrio.aio_as_trio(awaitable)` for that"
        )
    loop = current_loop()
    await trio.lowlevel.checkpoint_if_cancelled()
    future = start_asyncio_task(loop, async_fn, args, eager=True)
    return await wait_asyncio_future(loop, future)


async def run_coroutine_on(loop: EventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run an already created coroutine as a task of `loop`, from Trio."""

    async def body() -> T:
        return await coro

    return await wait_asyncio_future(loop, start_asyncio_task(loop, body, ()))


class TrioCallFuture(asyncio.Future[T]):
    """The asyncio side of a Trio task started by `run_trio`.

    ``cancel()`` cancels the Trio task and returns True, but the future stays
    pending until the Trio task has exited; it then ends cancelled if the task
    ended because of that request, or with the task's outcome otherwise.
    """

    def __init__(self, loop: EventLoop) -> None:
        super().__init__(loop=loop)
        self.scope = trio.CancelScope()
        self._cancel_message: Any = None

    def cancel(self, msg: Any | None = None) -> bool:
        if self.done():
            return False
        if not self.scope.cancel_called:
            self._cancel_message = msg
            self.scope.cancel()
        return True

    def settle(self, result: outcome.Outcome[T] | None) -> None:
        """Resolve with the Trio task's outcome; None means it was cancelled."""
        if self.done():
            return
        if result is None:
            super().cancel(msg=self._cancel_message)
        elif isinstance(result, outcome.Error):
            self.set_exception(result.error)
        else:
            self.set_result(result.unwrap())


def _split_cancelled(
    exc: BaseException,
) -> tuple[BaseException | None, BaseException | None]:
    """Split `exc` into its trio.Cancelled part and the rest."""
    if isinstance(exc, trio.Cancelled):
        return exc, None
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)
    return None, exc


async def _run_trio_call(
    loop: EventLoop,
    future: TrioCallFuture[T],
    async_fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
) -> None:
    current_loop_var.set(loop)
    try:
        try:
            with future.scope:
                value = await async_fn(*args)
        except BaseException as exc:
            # Our own scope has already absorbed a cancel that the asyncio side
            # asked for; a Cancelled still here comes from outside (the loop
            # shutting down) and must keep propagating.
            cancelled, rest = _split_cancelled(exc)
            future.settle(None if rest is None else outcome.Error(rest))
            if cancelled is not None:
                raise cancelled from None
            return
        future.settle(None if future.scope.cancelled_caught else outcome.Value(value))
    finally:
        loop._trio.trio_calls.discard(future)
        if not loop._trio.trio_calls and loop._trio.trio_calls_done is not None:
            loop._trio.trio_calls_done.set()


def start_trio_call(
    loop: EventLoop, async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
) -> TrioCallFuture[T]:
    """Start ``async_fn(*args)`` as a Trio task; return the future of its outcome.

    The Trio task runs in a copy of the calling context.
    """
    nursery = loop._trio.nursery
    if nursery is None:
        raise RuntimeError(f"{loop!r} is not running inside Trio")
    future: TrioCallFuture[T] = TrioCallFuture(loop)
    loop._trio.trio_calls.add(future)
    nursery.start_soon(_run_trio_call, loop, future, async_fn, args, name=async_fn)
    return future


async def run_trio(async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``await async_fn(*args)`` as a Trio task and return its result.

    An asyncio-flavored function: await it from asyncio code on an aiotrio
    loop. Cancelling the awaiting asyncio task cancels the Trio task and waits
    for it to exit.
    """
    if inspect.iscoroutine(async_fn):
        raise TypeError(
            "run_trio() takes an async function and its arguments, not a "
            f"coroutine object: {async_fn!r}"
        )
    loop = running_aiotrio_loop("aiotrio.run_trio()")
    return await start_trio_call(loop, async_fn, args)
