"""The driver: the one Trio task that runs an EventLoop's callbacks, timers and I/O."""

from __future__ import annotations

import enum
import math
from heapq import heapify, heappop
from time import perf_counter
from typing import TYPE_CHECKING, Any

import trio

from ._asyncio_context import AsyncioContext
from ._asyncio_internals import (
    MIN_CANCELLED_TIMER_HANDLES_FRACTION,
    MIN_SCHEDULED_TIMER_HANDLES,
    format_handle,
    slow_callback_logger,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._loop import EventLoop
    from ._readiness import Readiness

#: Seconds of asyncio work after which the driver yields to Trio. Trio tasks
#: wait at most about two of these for their turn under a saturating load.
FAIRNESS_INTERVAL = 0.0005

# Callbacks run between two looks at the clock, at most. A clock read costs
# about 50 ns, so 32 cheap callbacks (1-2 µs each) make it noise, while 32
# slow ones bound how far a batch can overrun before the driver notices. The
# chunk also shrinks when callbacks are slow, to about a quarter of the
# fairness interval.
_MAX_CHUNK = 32

# After an exit request, iterations run while callbacks remain (done-callbacks
# of the shutdown itself), but no more than this: a callback that always
# reschedules itself must not keep the loop alive. asyncio's close() drops
# whatever is still queued, and so do we.
_EXIT_DRAIN_ITERATIONS = 100

# asyncio's thresholds for purging cancelled timers from the heap.
_MIN_SCHEDULED = MIN_SCHEDULED_TIMER_HANDLES
_MIN_CANCELLED_FRACTION = MIN_CANCELLED_TIMER_HANDLES_FRACTION


# Trio checkpoints an idle driver takes before parking. A Trio task about to
# hand it work (a bridge call, a future it resolves) usually does so within
# these, and checkpoints are far cheaper than a park and a wake-up. Two,
# because Trio runs each batch of tasks in random order: the task handing us
# work may run after us in the first one.
_SPINS_BEFORE_PARKING = 2


class BatchEnd(enum.Enum):
    """Why a batch of iterations ended."""

    BUSY = "work remains: yield to Trio, then continue"
    DRAINED = "work was done and nothing is left for now"
    IDLE = "nothing was done: nothing to do until I/O, a timer or a wake-up"
    STOPPED = "the loop stopped or the driver was asked to exit"


class Driver:
    """Runs one loop inside a Trio task.

    Contract:

    - An *iteration* does what ``BaseEventLoop._run_once`` does, in the same
      order: drop cancelled timers, poll I/O, move due timers to the ready
      queue, run the callbacks that were ready when the iteration began. Only
      the I/O poll differs: it never blocks (``select(0)``).
    - Iterations run back to back in a *batch*, inside the loop's asyncio
      context (`AsyncioContext`), until nothing is left to do or
      `fairness_interval` seconds have passed. An iteration cut short by that
      budget resumes exactly where it stopped, so asyncio's ordering holds.
    - Between batches the driver yields to Trio. Once batches find nothing to
      do (after `_SPINS_BEFORE_PARKING` more checkpoints) it parks until I/O is
      ready, the earliest timer is due, or the loop's self-pipe is written
      (`EventLoop._wake`).
    - With ``returns_on_stop`` (``run_forever``) the driver returns after
      the iteration in which ``loop.stop()`` was seen, as asyncio does;
      otherwise (``open_loop``) ``loop.stop()`` is ignored and it serves until
      `request_exit` and the ready queue is drained (at most
      `_EXIT_DRAIN_ITERATIONS` more iterations). Exceptions that escape
      callbacks (KeyboardInterrupt, SystemExit) go to `on_fatal` if given,
      and propagate otherwise.

    The code that copies CPython's (`_iterate`, `_run_ready_debug`) says so:
    ``tests/test_cpython_origins.py`` fails when the original changes.
    """

    def __init__(self, loop: EventLoop, readiness: Readiness, *, own_clock: bool = True) -> None:
        self._fairness_interval = FAIRNESS_INTERVAL
        self._on_fatal: Callable[[BaseException], None] | None = None
        self._returns_on_stop = True
        # Whether loop.time() is the loop's Trio clock (EventLoop.time, not
        # overridden by a subclass): then the driver reads that clock directly.
        # An instance attribute "time" (a test patching it) is checked per use.
        self._own_clock = own_clock
        self._loop_attributes: dict[str, Any] = vars(loop)
        self._loop = loop
        self._readiness = readiness
        self._context = AsyncioContext(
            loop, loop._asyncgen_firstiter_hook, loop._asyncgen_finalizer_hook
        )
        # Callbacks of the current iteration not yet run (budget ran out).
        self._unfinished = 0
        # Callbacks per look at the clock (see _MAX_CHUNK), and the time a
        # chunk should take.
        self._chunk = _MAX_CHUNK
        self._chunk_time = FAIRNESS_INTERVAL / 4
        self._exit_requested = False
        self._iterations_since_exit_request = 0
        self._running = False
        self._park_scope: trio.CancelScope | None = None

    @property
    def fairness_interval(self) -> float:
        """Seconds of asyncio work after which a batch yields to Trio."""
        return self._fairness_interval

    @fairness_interval.setter
    def fairness_interval(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"fairness_interval must be positive, not {seconds!r}")
        self._fairness_interval = seconds
        self._chunk_time = seconds / 4

    @property
    def asyncio_context(self) -> AsyncioContext:
        return self._context

    @property
    def is_running(self) -> bool:
        """Whether `run` is serving the loop now."""
        return self._running

    @property
    def exit_requested(self) -> bool:
        return self._exit_requested

    def request_exit(self) -> None:
        """Ask the driver to return once the ready queue is drained."""
        self._exit_requested = True
        self._iterations_since_exit_request = 0
        self._loop._wake()

    def lower_deadline(self, when: float) -> None:
        """A timer was added while the driver is parked: wake it earlier if needed."""
        scope = self._park_scope
        if scope is not None:
            deadline = self._trio_deadline(when)
            scope.deadline = min(scope.deadline, deadline)

    def _reads_trio_clock(self) -> bool:
        return self._own_clock and "time" not in self._loop_attributes

    def _trio_deadline(self, when: float) -> float:
        """The Trio deadline at which loop.time() reaches `when`."""
        if math.isnan(when):  # asyncio runs a NaN timer at once
            return -math.inf
        if self._reads_trio_clock():
            return when
        now = self._loop._trio.now()
        return now + (when - self._loop.time())

    async def run(
        self,
        *,
        returns_on_stop: bool,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Serve the loop until it stops (see the class contract)."""
        self._exit_requested = False
        self._returns_on_stop = returns_on_stop
        self._on_fatal = on_fatal
        self._running = True
        try:
            await self._serve_until_stopped()
        finally:
            self._running = False

    async def _serve_until_stopped(self) -> None:
        on_fatal = self._on_fatal
        while True:
            try:
                # One long-lived scope carries the park deadline; a fresh
                # scope is needed only after that deadline has fired.
                with trio.CancelScope() as scope:
                    self._park_scope = scope
                    try:
                        await self._serve(scope)
                        return
                    finally:
                        self._park_scope = None
            except BaseException as exc:
                # Raised in the driver's own steps, outside a batch: a
                # KeyboardInterrupt arriving at that moment, say. Inside
                # open_loop() the driver must outlive it, or the block's
                # shutdown would wait for asyncio work nobody runs.
                if on_fatal is None or isinstance(exc, trio.Cancelled):
                    raise
                on_fatal(exc)

    async def _serve(self, scope: trio.CancelScope) -> None:
        spins = 0
        while True:
            end = self._batch()
            if end is BatchEnd.STOPPED:
                return
            if end is not BatchEnd.IDLE:
                spins = 0
            elif spins < _SPINS_BEFORE_PARKING:
                spins += 1
            else:
                spins = 0
                await self._park(scope)
                continue
            await trio.lowlevel.checkpoint()

    async def _park(self, scope: trio.CancelScope) -> None:
        loop = self._loop
        scheduled = loop._scheduled
        deadline = self._trio_deadline(scheduled[0]._when) if scheduled else math.inf
        if scope.deadline != deadline:
            scope.deadline = deadline
        side = loop._trio
        side.mark_parked()
        try:
            await self._readiness.wait()
        finally:
            side.mark_awake()

    def _batch(self) -> BatchEnd:
        loop = self._loop
        context = self._context
        saved = context.enter()
        try:
            started = perf_counter()
            budget_end = started + self._fairness_interval
            worked = False
            ran = 0
            while True:
                if self._unfinished:
                    remaining, self._unfinished = self._unfinished, 0
                    self._unfinished = self._run_ready(remaining, budget_end)
                    did_work = True
                    ran = 0  # _run_ready sized its own chunks
                else:
                    ran = self._iterate(budget_end)
                    did_work = ran > 0
                if self._unfinished:
                    return BatchEnd.BUSY
                if loop._stopping:
                    if self._returns_on_stop:
                        return BatchEnd.STOPPED
                    loop._stopping = False  # open_loop() owns the loop's lifetime
                if self._exit_requested:
                    self._iterations_since_exit_request += 1
                    if (
                        not loop._ready
                        or self._iterations_since_exit_request > _EXIT_DRAIN_ITERATIONS
                    ):
                        return BatchEnd.STOPPED
                if not did_work and not loop._ready:
                    return BatchEnd.DRAINED if worked else BatchEnd.IDLE
                worked = True
                now = perf_counter()
                if ran > 1 and now - started > self._chunk_time:
                    # An iteration run in one go took too long: its callbacks
                    # are slow, so make chunks smaller.
                    self._fit_chunk(ran, now - started)
                started = now
                if now >= budget_end:
                    return BatchEnd.BUSY
        except BaseException as exc:
            if self._on_fatal is None:
                raise
            self._on_fatal(exc)
            if self._exit_requested:
                # A callback that raises on every iteration (a reader whose fd
                # stays readable) must not keep the shutdown from ending.
                self._iterations_since_exit_request += 1
                if self._iterations_since_exit_request > _EXIT_DRAIN_ITERATIONS:
                    return BatchEnd.STOPPED
            return BatchEnd.BUSY
        finally:
            context.leave(saved)

    def _iterate(self, budget_end: float) -> int:
        """One iteration; returns how many events and callbacks it found.

        Adapted from CPython's BaseEventLoop._run_once (Lib/asyncio/base_events.py,
        3.11-3.15): same steps and order, a non-blocking poll, chunked callbacks.
        """
        loop = self._loop
        scheduled = loop._scheduled
        count = len(scheduled)
        if count > _MIN_SCHEDULED and loop._timer_cancelled_count / count > _MIN_CANCELLED_FRACTION:
            kept: list[Any] = []
            for handle in scheduled:
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    kept.append(handle)
            heapify(kept)
            loop._scheduled = scheduled = kept
            loop._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0]._cancelled:
                loop._timer_cancelled_count -= 1
                handle = heappop(scheduled)
                handle._scheduled = False

        event_list: Any = loop._selector.select(0)
        events = len(event_list)
        if events:
            loop._process_events(event_list)
        event_list = None  # break cycles if a callback raises

        ready = loop._ready
        if scheduled:
            # loop.time() without its frame, unless loop.time is not ours
            # (overridden, or patched by a test).
            if self._own_clock and "time" not in self._loop_attributes:
                end_time = loop._trio.now() + loop._clock_resolution
            else:
                end_time = loop.time() + loop._clock_resolution
            while scheduled:
                handle = scheduled[0]
                if handle._when >= end_time:
                    break
                handle = heappop(scheduled)
                handle._scheduled = False
                ready.append(handle)

        ntodo = len(ready)
        if 0 < ntodo <= self._chunk and not loop._debug:
            # The common case, inlined: exactly BaseEventLoop._run_once's loop.
            popleft = ready.popleft
            for _ in range(ntodo):
                handle = popleft()
                if handle._cancelled:
                    continue
                handle._run()
            handle = None  # as _run_once: let the last handle go now
        elif ntodo:
            self._unfinished = self._run_ready(ntodo, budget_end)
        return events + ntodo

    def _run_ready(self, count: int, budget_end: float) -> int:
        """Run up to `count` ready callbacks; return how many the budget left."""
        loop = self._loop
        popleft = loop._ready.popleft
        chunk_started = perf_counter()
        while True:
            chunk = count if count < self._chunk else self._chunk
            count -= chunk
            if loop._debug:
                self._run_ready_debug(chunk)
            else:
                for _ in range(chunk):
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    handle._run()
                handle = None
            now = perf_counter()
            self._fit_chunk(chunk, now - chunk_started)
            chunk_started = now
            if not count or now >= budget_end:
                return count

    def _fit_chunk(self, callbacks: int, elapsed: float) -> None:
        """Size the next chunk from what `callbacks` callbacks just cost."""
        if elapsed > self._chunk_time:
            fitted = int(callbacks * self._chunk_time / elapsed)
            self._chunk = fitted if fitted > 1 else 1
        elif callbacks >= self._chunk and elapsed < self._chunk_time / 4:
            grown = self._chunk * 2
            self._chunk = grown if grown < _MAX_CHUNK else _MAX_CHUNK

    def _run_ready_debug(self, chunk: int) -> None:
        """As `_run_ready`, with asyncio's slow-callback warning.

        Adapted from the debug branch of CPython's BaseEventLoop._run_once.
        """
        loop = self._loop
        popleft = loop._ready.popleft
        for _ in range(chunk):
            handle = popleft()
            if handle._cancelled:
                continue
            try:
                loop._current_handle = handle
                t0 = loop.time()
                handle._run()
                dt = loop.time() - t0
                if dt >= loop.slow_callback_duration:
                    slow_callback_logger().warning(
                        "Executing %s took %.3f seconds", format_handle(handle), dt
                    )
            finally:
                loop._current_handle = None
                # A finished callback's handle (and the task it steps) must
                # die now: a failed task reports its unretrieved exception
                # from its finaliser, in the exception handler set right now.
                handle = None
