"""`TrioSide`: aiotrio's own state for one loop, kept apart from asyncio's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._clock import MonotonicClock

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio

    from ._bridge import AsyncioWaiter, TrioCallFuture
    from ._driver import Driver
    from ._readiness import Readiness
    from ._signals import SignalHandlers


# What EventLoop.call_soon must do besides queueing (TrioSide.intercept).
NOTHING = 0
#: The driver is parked: wake it.
PARKED = 1
#: Python 3.11's stand-in for asyncio's eager_start (new in 3.12): the next
#: call_soon is a task's first step; run it at once instead of queueing it.
EAGER_STEP = 2


class TrioSide:
    """Everything a loop needs to live in Trio, as one attribute (``loop._trio``).

    Why one attribute: asyncio's own state is ~27 instance attributes, and
    CPython 3.13+ keeps attribute loads on an object fast only while its
    class's shared keys (asyncio's names plus every name the class body
    assigns with ``self.x = ...``) stay within 30. Ten more names on the loop
    would slow down every asyncio access to it by about 15%.
    """

    __slots__ = (
        "asyncio_waiters",
        "child_pidfds",
        "clock",
        "driver",
        "intercept",
        "intercept_after_eager_step",
        "now",
        "nursery",
        "readiness",
        "signals",
        "trio_calls",
        "trio_calls_done",
    )

    def __init__(self, readiness: Readiness, signals: SignalHandlers) -> None:
        self.readiness = readiness
        self.signals = signals
        # The clock loop.time() reads: time.monotonic() when hosted, the Trio
        # run's clock inside open_loop().
        self.clock: trio.abc.Clock = MonotonicClock()
        self.now: Callable[[], float] = time.monotonic
        # NOTHING, PARKED (the driver is parked and nobody has woken it yet)
        # or EAGER_STEP: read on every call_soon, so one attribute for both.
        self.intercept = NOTHING
        # What `intercept` was before an EAGER_STEP, to restore for the step.
        self.intercept_after_eager_step = NOTHING
        # The nursery bridged Trio tasks start in, while the loop runs in Trio.
        self.nursery: trio.Nursery | None = None
        self.trio_calls: set[TrioCallFuture[Any]] = set()
        self.trio_calls_done: trio.Event | None = None
        self.asyncio_waiters: set[AsyncioWaiter] = set()
        # pidfd -> pid of each child process the loop is waiting for.
        self.child_pidfds: dict[int, int] = {}
        self.driver: Driver  # set once the loop's asyncio half exists

    def use_clock(self, clock: trio.abc.Clock) -> None:
        """Read time from `clock` (what ``loop.time()`` returns, and Trio's deadlines)."""
        self.clock = clock
        self.now = clock.current_time
