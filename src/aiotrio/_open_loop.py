"""Opening a loop inside a Trio program, and closing it without losing anything."""

from __future__ import annotations

import asyncio
import functools
import inspect
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ._bridge import run_coroutine_on
from ._current import make_current_event_loop
from ._driver import TRIO_LATENCY, check_trio_latency
from ._loop import EventLoop
from ._loop_var import current_loop_var
from ._misuse import refuse_asyncio_caller
from ._serve import Mode, raise_outside_handler, serve, sole_exception

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

T = TypeVar("T")
L = TypeVar("L", bound=EventLoop)

# Cancelled tasks and Trio calls can start new ones while they unwind; give
# up after this many rounds rather than loop forever.
_SHUTDOWN_ROUNDS = 10


def new_event_loop(
    *,
    readiness: str | None = None,
    clock: trio.abc.Clock | None = None,
    trio_latency: float = TRIO_LATENCY,
) -> EventLoop:
    """A new aiotrio loop, for ``asyncio.run(..., loop_factory=aiotrio.new_event_loop)``.

    :flavour: either

    See `EventLoop` for `readiness`, `clock` and `trio_latency`.
    """
    trio_latency = check_trio_latency(trio_latency, "aiotrio.new_event_loop()")
    return EventLoop(readiness=readiness, clock=clock, trio_latency=trio_latency)


def open_loop(
    *, readiness: str | None = None, trio_latency: float = TRIO_LATENCY
) -> AbstractAsyncContextManager[EventLoop]:
    """Run a new aiotrio loop for the duration of the block.

    :flavour: trio

    A Trio-flavored async context manager. Inside the block asyncio code runs
    on the loop (use `run_asyncio`/`aio_as_trio` to call it). Leaving the
    block cancels the loop's remaining asyncio tasks and Trio calls and waits
    for them, shuts down async generators and the default executor, then
    closes the loop. Exceptions from the block propagate unchanged; a
    KeyboardInterrupt or SystemExit raised by asyncio code cancels the block
    and is raised from it once the loop has shut down.

    `trio_latency` (seconds) trades Trio's latency for asyncio's throughput
    while asyncio work keeps the loop busy; see `EventLoop`.
    """
    trio_latency = check_trio_latency(trio_latency, "aiotrio.open_loop()")
    return open_loop_of(
        functools.partial(EventLoop, readiness=readiness, trio_latency=trio_latency)
    )


@asynccontextmanager
async def open_loop_of(make_loop: Callable[[], L]) -> AsyncGenerator[L]:
    """`open_loop` for the loop `make_loop()` returns (an `EventLoop` subclass, maybe)."""
    refuse_asyncio_caller(
        "aiotrio.open_loop()",
        "asyncio code already has a loop: call Trio code from it with `aiotrio.run_trio()`",
    )
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        raise RuntimeError(
            "aiotrio.open_loop() must be used inside a Trio program (trio.run() or "
            "aiotrio.run()); to run asyncio code on aiotrio, use "
            "asyncio.run(main(), loop_factory=aiotrio.new_event_loop)"
        ) from None
    loop = make_loop()
    fatal: list[BaseException] = []
    waiters_interrupted: list[bool] = []  # not empty once a second Ctrl-C released them
    failure: BaseException | None = None
    try:
        with loop._running_in_this_thread():
            async with trio.open_nursery(strict_exception_groups=True) as nursery:

                def on_fatal(exc: BaseException) -> None:
                    bridges = loop._trio.bridges
                    if (
                        isinstance(exc, KeyboardInterrupt)
                        and not waiters_interrupted
                        and (
                            (fatal and isinstance(fatal[0], KeyboardInterrupt))
                            # The first Ctrl-C may have gone to a Trio task
                            # instead (Trio delivers it to the main task when
                            # it lands in protected code).
                            or bridges.waits_cancelled_by_interrupt()
                        )
                    ):
                        # A second Ctrl-C while the first one's cancellation
                        # winds down: stop waiting for slow asyncio cleanups,
                        # as asyncio.run() does (once: the block's own
                        # shutdown still waits for them).
                        waiters_interrupted.append(True)
                        bridges.interrupt_waiters()
                    if not fatal:  # the first is raised; a repeating one is not hoarded
                        fatal.append(exc)
                    nursery.cancel_scope.cancel()

                # Not nursery.start(): Trio does not move a started task out of
                # a start() whose caller is cancelled already, so a shielded
                # driver would keep start() waiting forever.
                started = trio.Event()
                nursery.start_soon(
                    functools.partial(serve, started=started, on_fatal=on_fatal),
                    loop,
                    Mode.OPEN_LOOP,
                )
                try:
                    await started.wait()
                    token = current_loop_var.set(loop)
                    undo_current_event_loop = make_current_event_loop(loop)
                    try:
                        yield loop
                    finally:
                        undo_current_event_loop()
                        current_loop_var.reset(token)
                finally:
                    with trio.CancelScope(shield=True):
                        await _shut_down(loop, started, on_fatal)
    except BaseExceptionGroup as group:
        failure = sole_exception(group)
    finally:
        if not loop.is_closed():
            loop.close()
    if fatal:
        failure = fatal[0]
    raise_outside_handler(failure)


async def _shut_down(
    loop: EventLoop, started: trio.Event, on_interrupt: Callable[[BaseException], None]
) -> None:
    """Everything open_loop() promises on exit, then stop the driver.

    Trio delivers a pending KeyboardInterrupt at any checkpoint of its main
    task, shielded or not, so one may arrive here (a Ctrl-C that landed in
    KI-protected code a moment ago). It ends the step it interrupts, goes to
    `on_interrupt` (raised once the loop is closed) and the shutdown goes on:
    a driver never asked to exit would keep the block waiting forever.
    """
    steps: tuple[Callable[[], Awaitable[object]], ...] = (
        lambda: _cancel_tasks_and_trio_calls(loop),
        lambda: run_coroutine_on(loop, loop.shutdown_asyncgens()),
        lambda: run_coroutine_on(loop, loop.shutdown_default_executor()),
        # Trio tasks outside the block may have started more work meanwhile.
        lambda: _cancel_tasks_and_trio_calls(loop),
    )
    while True:
        try:
            await started.wait()
            break
        except KeyboardInterrupt as exc:
            on_interrupt(exc)
    if not loop._trio.driver.is_running:  # its set-up failed
        return
    try:
        for step in steps:
            try:
                await step()
            except KeyboardInterrupt as exc:
                on_interrupt(exc)
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
        bridges = loop._trio.bridges
        if not tasks and not any(bridges.trio_calls()):
            return
        if tasks:
            await run_coroutine_on(loop, _cancel_and_wait(loop, tasks))
        # Cancelling the tasks may have ended some Trio calls already.
        await bridges.cancel_trio_calls()


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

    :flavour: no-loop

    `async_fn` is Trio-flavored; keyword arguments go to `trio.run` (for
    example ``clock=``).
    """

    if inspect.iscoroutine(async_fn):
        async_fn.close()  # it will never run: no "never awaited" warning
        raise TypeError(
            "aiotrio.run() takes an async function and its arguments, not a coroutine "
            "object: write aiotrio.run(main, arg), not aiotrio.run(main(arg))"
        )

    async def main() -> T:
        async with open_loop():
            awaitable = async_fn(*args)
            if not inspect.isawaitable(awaitable):
                raise TypeError(
                    f"aiotrio.run() expected an async function, but {async_fn!r} "
                    f"returned {awaitable!r}; pass an `async def` function"
                )
            return await awaitable

    return trio.run(main, **trio_run_kwargs)
