"""Bridged asyncio tasks take their first step at once (eager start).

A coroutine that finishes without suspending then never needs the driver,
which saves a Trio caller a round trip through Trio's scheduler. On 3.12+
this is asyncio's own ``Task(..., eager_start=True)``. Python 3.11 has no
eager start, so it is emulated: the loop runs the step a new task schedules
at once instead of queueing it (`TrioSide.expect_eager_step`, and
`EventLoop.call_soon` calling `run_eager_step`). Everything 3.11-only is in
this module and the ``EAGER_STEP`` state of `aiotrio._trio_side`; delete both
when 3.11 support ends.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ._asyncio_internals import callback_started, register_task

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Coroutine

    from ._loop import EventLoop

T = TypeVar("T")

#: asyncio.Task(..., eager_start=True) is new in 3.12.
NATIVE_EAGER_START = sys.version_info >= (3, 12)


def start_task_eagerly(
    loop: EventLoop, coro: Coroutine[Any, Any, T], context: contextvars.Context
) -> asyncio.Task[T]:
    """A task of `loop` for `coro` whose first step has already run."""
    if NATIVE_EAGER_START:
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]
    side = loop._trio
    side.expect_eager_step()
    try:
        return loop.create_task(coro, context=context)
    finally:
        side.end_eager_step()  # in case the step was never scheduled


# The step is the caller's own asyncio code, interruptible by Ctrl-C as any
# (see aiotrio._driver), although the loop's call_soon that runs it is
# KI-protected. An interrupt in this function's own instructions after the
# pop, or on Handle._run's first ones, comes before the step began: the step
# is queued again, or the new task would never take one. None can land after
# the step: nothing here follows the call that could check for signals.
@trio.lowlevel.disable_ki_protection
def run_eager_step(loop: EventLoop, handle: Any) -> None:
    """3.11: `handle`, just queued by a new task, is its first step: run it now."""
    ready = loop._ready
    if ready and ready[-1] is handle:  # just appended by _call_soon
        # Task.__init__ registers the task only after this call_soon returns;
        # eager_start (3.12+) registers it before the step.
        register_task(handle._callback.__self__)
        try:
            ready.pop()
            handle._run()
        except BaseException as exc:
            if not callback_started(exc):
                ready.append(handle)
            raise
