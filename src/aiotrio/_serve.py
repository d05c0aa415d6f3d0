"""Serving a loop in Trio: the one place a driver is started, for every mode.

`serve(loop, mode)` is the driver's task body in every way of running. The
modes differ only in what `Mode` lists:

- `Mode.HOSTED` (``run_forever``, so ``loop_factory``): the driver is the
  main task of a ``trio.run`` of its own, with the loop's `MonotonicClock`, so
  timers and the ready queue carry over between runs; it returns when
  ``loop.stop()`` is seen, as asyncio does; exceptions that escape callbacks
  (KeyboardInterrupt, SystemExit) end the run. Trio tasks started with
  ``run_trio`` live within one such run: when the loop stops they are
  cancelled, and their futures end cancelled.
- `Mode.OPEN_LOOP` (``open_loop()``): the driver runs alongside the
  program's Trio tasks, on the run's clock, shielded (when the block is
  cancelled, the loop must keep running so its asyncio tasks can be cancelled
  and awaited in asyncio's own way) until the block's shutdown asks it to
  exit; such exceptions go to the block.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import trio

from ._fork import forget_trio_run_in_forked_children
from ._sigint_guard import guard_sigint
from ._weak_callbacks import protect_weak_collection_callbacks

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._loop import EventLoop


class Mode(enum.Enum):
    """A way of running a loop's driver in Trio."""

    HOSTED = "hosted"
    OPEN_LOOP = "open_loop"

    @property
    def shielded(self) -> bool:
        """Whether the driver outlives a cancellation of the code around it."""
        return self is Mode.OPEN_LOOP

    @property
    def uses_trio_clock(self) -> bool:
        """Whether loop time is the Trio run's clock (else the loop's own)."""
        return self is Mode.OPEN_LOOP

    @property
    def returns_on_stop(self) -> bool:
        """Whether ``loop.stop()`` ends the driver (else only `Driver.request_exit`)."""
        return self is Mode.HOSTED


@trio.lowlevel.enable_ki_protection  # as the driver's own steps (see aiotrio._driver)
async def serve(
    loop: EventLoop,
    mode: Mode,
    *,
    started: trio.Event | None = None,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> None:
    """Drive `loop` in the current Trio run until it stops (see `Mode`).

    `started` is set once the loop serves (and also if setting up failed), so
    the code that started this task can wait for it; unlike
    ``nursery.start()``, that works when the starter is already cancelled.
    `on_fatal` receives exceptions that escape callbacks instead of ending the
    driver (None: they propagate).
    """
    try:
        forget_trio_run_in_forked_children()
        protect_weak_collection_callbacks()
        with trio.CancelScope(shield=mode.shielded):
            async with trio.open_nursery(strict_exception_groups=True) as helpers:
                loop._trio.start_serving(helpers, trio_clock=mode.uses_trio_clock)
                if started is not None:
                    started.set()
                try:
                    await loop._trio.driver.run(
                        returns_on_stop=mode.returns_on_stop, on_fatal=on_fatal
                    )
                finally:
                    helpers.cancel_scope.cancel()
                    loop._trio.stop_serving()
    finally:
        if started is not None:
            started.set()


def run_hosted(loop: EventLoop) -> None:
    """One ``run_forever()``: serve the loop in a new ``trio.run`` until it stops."""
    failure: BaseException | None = None
    try:
        with guard_sigint(loop):
            trio.run(serve, loop, Mode.HOSTED, clock=loop._trio.clock)
    except BaseExceptionGroup as group:
        failure = sole_exception(group)
    raise_outside_handler(failure)


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception a strict nursery of ours wrapped; a larger group is re-raised."""
    if len(group.exceptions) != 1:
        raise group
    return group.exceptions[0]


def raise_outside_handler(failure: BaseException | None) -> None:
    """Raise `failure` (if any) from outside the ``except`` that caught its group,
    so it does not get the group as its ``__context__``; drop the reference after."""
    if failure is not None:
        try:
            raise failure
        finally:
            failure = None
