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
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast

import trio

from . import _guest
from ._bridges import AsyncioWaiter, Bridges, TrioCallFuture
from ._current import loop_for_trio_code, running_loop_for
from ._eager_step import start_task_eagerly
from ._loop import EventLoop
from ._misuse import refuse_asyncio_caller, refuse_asyncio_function, refuse_trio_function

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

T = TypeVar("T")
_Ts = TypeVarTuple("_Ts")

_get_running_loop = asyncio._get_running_loop


def bridges_of(loop: asyncio.AbstractEventLoop) -> Bridges:
    """The bridge calls of `loop`: its own, or those of the Trio guest run it hosts.

    The one dispatch point between aiotrio loops and other loops (stock
    asyncio, uvloop), which host Trio as a guest (`aiotrio._guest`); from
    asyncio code the first call on such a loop starts its guest run.
    """
    if isinstance(loop, EventLoop):
        return loop._trio.bridges
    return _guest.guest_of(loop).bridges


@trio.lowlevel.enable_ki_protection  # its bookkeeping must not be cut short (see _bridges)
async def wait_asyncio_future(
    loop: asyncio.AbstractEventLoop,
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
    waiter = AsyncioWaiter(trio.lowlevel.current_task(), future, on_cancel or future.cancel)
    bridges = bridges_of(loop)
    bridges.add_waiter(waiter)
    future.add_done_callback(waiter.on_done)
    try:
        try:
            await trio.lowlevel.wait_task_rescheduled(waiter.abort)
        except (trio.Cancelled, KeyboardInterrupt) as exc:
            if not waiter.cancel_requested:
                raise  # not our abort: released by the loop, or interrupted
            # Cancel requested (see AsyncioWaiter): the future was asked to
            # cancel; wait for it, but let a second Ctrl-C through.
            waiter.cancel_exc = exc
            if waiter.block_again():
                with trio.CancelScope(shield=True):
                    await trio.lowlevel.wait_task_rescheduled(waiter.abort)
    finally:
        bridges.discard_waiter(waiter)
    if waiter.cancel_exc is not None and (future.cancelled() or not future.done()):
        # Not done: the loop stopped serving before the future could end.
        raise waiter.cancel_exc  # trio.Cancelled (or KeyboardInterrupt)
    return future.result()


def start_asyncio_task(
    loop: asyncio.AbstractEventLoop,
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
    A `loop` that is not an aiotrio loop hosts a Trio guest run
    (`GuestRun.start_asyncio_task`).
    """
    if not isinstance(loop, EventLoop):
        return _guest.guest_of(loop).start_asyncio_task(async_fn, args, eager=eager)
    if loop._trio.driver.exit_requested:
        raise RuntimeError(f"{loop!r} is shutting down")
    context = contextvars.copy_context()
    asyncio_context = loop._trio.driver.asyncio_context
    saved = asyncio_context.enter()
    try:
        awaitable = call_async_fn(context, async_fn, args)
        if asyncio.isfuture(awaitable):
            return awaitable
        if eager and loop.get_task_factory() is None:
            return start_task_eagerly(loop, awaitable, context)
        return loop.create_task(awaitable, context=context)
    finally:
        asyncio_context.leave(saved)


def call_async_fn(
    context: contextvars.Context, async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
) -> asyncio.Future[T] | Coroutine[Any, Any, T]:
    """``async_fn(*args)`` in `context`: a future, or a coroutine to run as a task."""
    awaitable = context.run(async_fn, *args)
    if asyncio.isfuture(awaitable):
        return cast("asyncio.Future[T]", awaitable)
    if not inspect.iscoroutine(awaitable):
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                f"run_asyncio() expected an async function, but {async_fn!r} returned {awaitable!r}"
            )
        return _await(awaitable)
    return cast("Coroutine[Any, Any, T]", awaitable)


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def run_asyncio(async_fn: Callable[[*_Ts], Awaitable[T]], *args: *_Ts) -> T:
    """Run ``await async_fn(*args)`` as an asyncio task and return its result.

    :flavour: trio

    A Trio-flavored function: call it from Trio code inside ``open_loop()``,
    or from Trio code that ``run_trio`` started on another asyncio loop (the
    task runs on that loop). Exceptions propagate with their tracebacks;
    cancellation follows the module docstring's rules.
    """
    if inspect.iscoroutine(async_fn) or asyncio.isfuture(async_fn):
        raise TypeError(
            "run_asyncio() takes an async function and its arguments, not "
            f"{async_fn!r}; use `await aiotrio.aio_as_trio(awaitable)` for that"
        )
    refuse_asyncio_caller(
        "aiotrio.run_asyncio()", "in asyncio code call the function directly: `await fn(*args)`"
    )
    refuse_trio_function("aiotrio.run_asyncio()", async_fn)
    loop = loop_for_trio_code("aiotrio.run_asyncio()")
    await trio.lowlevel.checkpoint_if_cancelled()
    future = start_asyncio_task(loop, async_fn, args, eager=True)
    return await wait_asyncio_future(loop, future)


async def run_coroutine_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run an already created coroutine as a task of `loop`, from Trio."""

    async def body() -> T:
        return await coro

    return await wait_asyncio_future(loop, start_asyncio_task(loop, body, ()))


def start_trio_call(
    loop: asyncio.AbstractEventLoop, async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
) -> TrioCallFuture[T]:
    """Start ``async_fn(*args)`` as a Trio task of `loop`; see `Bridges.start_trio_call`.

    On a loop that is not an aiotrio loop, in its Trio guest run (started if needed).
    """
    return bridges_of(loop).start_trio_call(async_fn, args)


async def run_trio(async_fn: Callable[[*_Ts], Awaitable[T]], *args: *_Ts) -> T:
    """Run ``await async_fn(*args)`` as a Trio task and return its result.

    :flavour: asyncio

    An asyncio-flavored function: await it from asyncio code. On an aiotrio
    loop the task runs in the loop's Trio run; on any other loop (stock
    asyncio, uvloop) in a Trio run hosted by that loop as a guest, started by
    the first call. Cancelling the awaiting asyncio task cancels the Trio task
    and waits for it to exit.
    """
    # The checks and the dispatch of start_trio_call, inlined: this is the
    # per-call path (benchmark 10).
    if isinstance(async_fn, CoroutineType):  # pyright: ignore[reportUnnecessaryIsInstance] (misuse the types forbid)
        raise TypeError(
            "run_trio() takes an async function and its arguments, not a "
            f"coroutine object: {async_fn!r}"
        )
    refuse_asyncio_function("aiotrio.run_trio()", async_fn)
    loop = _get_running_loop()
    if loop is None:
        loop = running_loop_for("aiotrio.run_trio()")  # raises the error that says why
    bridges = loop._trio.bridges if isinstance(loop, EventLoop) else bridges_of(loop)
    return await bridges.start_trio_call(async_fn, args)
