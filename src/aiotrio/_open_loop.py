"""Opening a loop inside a Trio program, and closing it without losing anything."""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ._bridge import run_coroutine_on
from ._current import current_loop_var, make_current_event_loop
from ._hosting import serve_in_open_loop, sole_exception
from ._loop import EventLoop

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

T = TypeVar("T")

# Cancelled tasks and Trio calls can start new ones while they unwind; give
# up after this many rounds rather than loop forever.
_SHUTDOWN_ROUNDS = 10


def new_event_loop(
    *, readiness: str | None = None, clock: trio.abc.Clock | None = None
) -> EventLoop:
    """A new aiotrio loop, for ``asyncio.run(..., loop_factory=aiotrio.new_event_loop)``.

    See `EventLoop` for `readiness` and `clock`.
    """
    return EventLoop(readiness=readiness, clock=clock)


@asynccontextmanager
async def open_loop(*, readiness: str | None = None) -> AsyncIterator[EventLoop]:
    """Run a new aiotrio loop for the duration of the block.

    A Trio-flavored async context manager. Inside the block asyncio code runs
    on the loop (use `run_asyncio`/`aio_as_trio` to call it). Leaving the
    block cancels the loop's remaining asyncio tasks and Trio calls and waits
    for them, shuts down async generators and the default executor, then
    closes the loop. Exceptions from the block propagate unchanged; a
    KeyboardInterrupt or SystemExit raised by asyncio code cancels the block
    and is raised from it once the loop has shut down.
    """
    loop = EventLoop(readiness=readiness)
    fatal: list[BaseException] = []
    failure: BaseException | None = None
    try:
        async with trio.open_nursery(strict_exception_groups=True) as nursery:

            def on_fatal(exc: BaseException) -> None:
                fatal.append(exc)
                nursery.cancel_scope.cancel()

            loop._trio.driver.on_fatal = on_fatal
            loop._thread_id = threading.get_ident()
            loop._set_coroutine_origin_tracking(loop._debug)
            await nursery.start(serve_in_open_loop, loop)
            token = current_loop_var.set(loop)
            undo_current_event_loop = make_current_event_loop(loop)
            try:
                yield loop
            finally:
                undo_current_event_loop()
                current_loop_var.reset(token)
                with trio.CancelScope(shield=True):
                    await _shut_down(loop)
    except BaseExceptionGroup as group:
        failure = sole_exception(group)
        if failure is None:
            raise
    finally:
        loop._thread_id = None
        loop._set_coroutine_origin_tracking(False)
        if not loop.is_closed():
            loop.close()
    if fatal:
        failure = fatal[0]
    if failure is not None:
        try:
            raise failure
        finally:
            failure = None


async def _shut_down(loop: EventLoop) -> None:
    """Everything open_loop() promises on exit, then stop the driver."""
    try:
        await _cancel_tasks_and_trio_calls(loop)
        await run_coroutine_on(loop, loop.shutdown_asyncgens())
        await run_coroutine_on(loop, loop.shutdown_default_executor())
        # Trio tasks outside the block may have started more work meanwhile.
        await _cancel_tasks_and_trio_calls(loop)
    finally:
        # No checkpoint since the last check found nothing left: from here on
        # new calls are refused, so nothing can be left pending at close.
        loop._trio.driver.request_exit()


async def _cancel_tasks_and_trio_calls(loop: EventLoop) -> None:
    """Cancel and await the loop's asyncio tasks and Trio calls until none remain.

    Returns without a checkpoint after the check that found none.
    """
    for _ in range(_SHUTDOWN_ROUNDS):
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        calls = list(loop._trio.trio_calls)
        if not tasks and not calls:
            return
        if tasks:
            await run_coroutine_on(loop, _cancel_and_wait(loop, tasks))
        if loop._trio.trio_calls:  # cancelling the tasks may have ended some already
            loop._trio.trio_calls_done = done = trio.Event()
            for call in list(loop._trio.trio_calls):
                call.cancel()
            await done.wait()


async def _cancel_and_wait(loop: EventLoop, tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel `tasks`, wait for all, report errors they raised (as asyncio.run does)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if task.cancelled():
            continue
        error = task.exception()
        if error is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during aiotrio.open_loop() shutdown",
                    "exception": error,
                    "task": task,
                }
            )


def run(
    async_fn: Callable[..., Awaitable[T]],
    *args: Any,
    **trio_run_kwargs: Any,
) -> T:
    """``trio.run(async_fn, *args)`` with an aiotrio loop open for the whole run.

    `async_fn` is Trio-flavored; keyword arguments go to `trio.run` (for
    example ``clock=``).
    """

    async def main() -> T:
        async with open_loop():
            return await async_fn(*args)

    return trio.run(main, **trio_run_kwargs)
