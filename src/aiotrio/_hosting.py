"""Running the driver: inside a Trio program (open_loop) or in a trio.run of its own.

Hosted mode (``run_forever``) exists so unmodified asyncio programs work:
every call hosts the driver as the main task of a fresh ``trio.run``, with the
loop's `MonotonicClock`, so timers and the ready queue carry over between
calls. Trio tasks started with ``run_trio`` live within one such call: when the
loop stops they are cancelled, and their futures end cancelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ._fork import forget_trio_run_in_forked_children

if TYPE_CHECKING:
    from ._loop import EventLoop


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception a nursery of ours wrapped, or None if there were more."""
    if len(group.exceptions) == 1:
        return group.exceptions[0]
    return None


def release_asyncio_waiters(loop: EventLoop) -> None:
    """Wake every Trio task still waiting on this loop: it will not be served."""
    waiters = list(loop._trio.asyncio_waiters)
    loop._trio.asyncio_waiters.clear()
    for waiter in waiters:
        waiter.release()


async def _host(loop: EventLoop) -> None:
    async with trio.open_nursery(strict_exception_groups=True) as helpers:
        loop._start_serving_in_trio(helpers, hosted=True)
        try:
            await loop._trio.driver.run(hosted=True)
        finally:
            helpers.cancel_scope.cancel()
            loop._stop_serving_in_trio()
            release_asyncio_waiters(loop)


def run_hosted(loop: EventLoop) -> None:
    """One run_forever(): serve the loop in a new trio.run until it stops."""
    forget_trio_run_in_forked_children()
    failure: BaseException | None = None
    try:
        trio.run(_host, loop, clock=loop._trio.clock)
    except BaseExceptionGroup as group:
        failure = sole_exception(group)
        if failure is None:
            raise
    if failure is not None:
        try:
            raise failure
        finally:
            failure = None


async def serve_in_open_loop(
    loop: EventLoop, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """The driver task of an open_loop() block.

    Shielded: when the block is cancelled, the loop must keep running so its
    asyncio tasks can be cancelled and awaited in asyncio's own way; the
    block's shutdown ends this task with `Driver.request_exit`. The nursery
    inside, for readiness watchers and run_trio() calls, shares the shield.
    """
    forget_trio_run_in_forked_children()
    with trio.CancelScope(shield=True):
        async with trio.open_nursery(strict_exception_groups=True) as helpers:
            loop._start_serving_in_trio(helpers, hosted=False)
            task_status.started()
            try:
                await loop._trio.driver.run(hosted=False)
            finally:
                helpers.cancel_scope.cancel()
                loop._stop_serving_in_trio()
                release_asyncio_waiters(loop)
