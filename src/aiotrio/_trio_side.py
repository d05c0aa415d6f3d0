"""`TrioSide`: aiotrio's own state for one loop, kept apart from asyncio's.

It composes the subsystems, each of which owns its state: the readiness
backend, the signal handlers, the child watcher, the bridges and the driver.
Its own fields are only what the loop's scheduling methods read on every
call (`intercept`) and the clock.
"""

from __future__ import annotations

import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

import trio

from ._bridges import Bridges
from ._children import ChildWatcher
from ._clock import MonotonicClock
from ._signals import SignalHandlers

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._driver import Driver
    from ._loop import EventLoop
    from ._readiness import Readiness


def _system_clock_type() -> Any:
    """Trio's default clock class, ``offset + perf_counter()`` (see `_reading`)."""
    try:
        from trio._core import _run  # noqa: PLC0415 (private: only probed here)
    except ImportError:  # pragma: no cover (moved in a future Trio: the generic path)
        return None
    return getattr(_run, "SystemClock", None)


_SystemClock = _system_clock_type()


# What EventLoop.call_soon must do besides queueing (TrioSide.intercept).
NOTHING = 0
#: The driver is parked: wake it.
PARKED = 1
#: Python 3.11's stand-in for asyncio's eager_start (see `aiotrio._eager_step`):
#: the next call_soon is a task's first step; run it at once instead of queueing it.
EAGER_STEP = 2


def _reading(clock: trio.abc.Clock) -> tuple[float, Callable[[], float]]:
    """`clock`'s time as ``offset + read()``, with `read` a C function where possible.

    ``loop.time()`` is read in every loop iteration that has timers. Trio's
    default clock is ``offset + perf_counter()`` (a frozen offset): reading
    that directly saves a Python frame per read.
    """
    offset = getattr(clock, "offset", None)
    if type(clock) is _SystemClock and type(offset) is float:
        before = perf_counter()
        now = clock.current_time()
        if before - 1e-6 <= now - offset <= perf_counter() + 1e-6:  # still what it was
            return offset, perf_counter
    if type(clock) is MonotonicClock:
        return 0.0, time.monotonic
    return 0.0, clock.current_time


class TrioSide:
    """Everything a loop needs to live in Trio, as one attribute (``loop._trio``).

    Why one attribute: asyncio's own state is ~27 instance attributes, and
    CPython 3.13+ keeps attribute loads on an object fast only while its
    class's shared keys (asyncio's names plus every name the class body
    assigns with ``self.x = ...``) stay within 30. Ten more names on the loop
    would slow down every asyncio access to it by about 15%.
    """

    __slots__ = (
        "_intercept_after_eager_step",
        "bridges",
        "children",
        "clock",
        "driver",
        "intercept",
        "offset",
        "read",
        "readiness",
        "signals",
    )

    def __init__(self, loop: EventLoop, readiness: Readiness) -> None:
        self.readiness = readiness
        self.signals = SignalHandlers(loop)
        self.children = ChildWatcher(loop)
        self.bridges = Bridges(loop)
        # The clock loop.time() reads: time.monotonic() when hosted, the Trio
        # run's clock inside open_loop(); its time is offset + read().
        self.clock: trio.abc.Clock = MonotonicClock()
        self.offset = 0.0
        self.read: Callable[[], float] = time.monotonic
        # NOTHING, PARKED (the driver is parked and nobody has woken it yet)
        # or EAGER_STEP: read on every call_soon, so one attribute for both.
        self.intercept = NOTHING
        self._intercept_after_eager_step = NOTHING
        self.driver: Driver  # set once the loop's asyncio half exists

    def use_clock(self, clock: trio.abc.Clock) -> None:
        """Read time from `clock` (what ``loop.time()`` returns, and Trio's deadlines)."""
        self.clock = clock
        self.offset, self.read = _reading(clock)

    def now(self) -> float:
        """The current time of `clock`."""
        return self.offset + self.read()

    # -- serving in a Trio run (see aiotrio._serve) ---------------------------------

    def start_serving(self, nursery: trio.Nursery, *, trio_clock: bool) -> None:
        """The loop is about to be driven inside the current Trio run.

        Helper tasks (readiness watchers, bridged Trio calls) start in
        `nursery`; with `trio_clock`, loop time becomes the run's clock.
        """
        if trio_clock:
            self.use_clock(trio.lowlevel.current_clock())
        self.bridges.attach(nursery)
        self.readiness.attach(nursery)

    def stop_serving(self) -> None:
        """The driver has returned: release Trio tasks still waiting on the loop."""
        self.bridges.detach()
        self.readiness.detach()

    # -- the intercept state --------------------------------------------------------

    def mark_parked(self) -> None:
        self.intercept = PARKED

    def mark_awake(self) -> None:
        self.intercept = NOTHING

    def expect_eager_step(self) -> None:
        """3.11: the next call_soon is a new task's first step (see `_eager_step`)."""
        self._intercept_after_eager_step = self.intercept
        self.intercept = EAGER_STEP

    def take_eager_step(self) -> None:
        """call_soon saw the expected step: back to the state from before."""
        self.intercept = self._intercept_after_eager_step

    def end_eager_step(self) -> None:
        """The task was created: stop expecting its step if it never came."""
        if self.intercept == EAGER_STEP:
            self.intercept = self._intercept_after_eager_step
