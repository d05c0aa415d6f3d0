"""The driver: the one Trio task that runs an EventLoop's callbacks, timers and I/O."""

from __future__ import annotations

import enum
import math
from heapq import heapify, heappop
from time import perf_counter
from typing import TYPE_CHECKING, Any

import outcome
import trio

from ._asyncio_context import AsyncioContext
from ._asyncio_internals import (
    MIN_CANCELLED_TIMER_HANDLES_FRACTION,
    MIN_SCHEDULED_TIMER_HANDLES,
    format_handle,
    handle_not_started,
    slow_callback_logger,
)
from ._clock import MonotonicClock
from ._popped_handles import PopWindows
from ._trio_side import PARKED
from ._trio_view import current_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._kernel_timer import KernelTimer
    from ._loop import EventLoop
    from ._readiness import Readiness
    from ._trio_view import TrioView

#: Default of ``trio_latency`` (see `Driver`): how often a busy driver looks
#: at Trio, and how long it runs asyncio work while Trio has tasks to run.
TRIO_LATENCY = 0.00005

#: A batch never runs longer than this many ``trio_latency`` even when Trio
#: seems idle: Trio tasks that share the driver's Trio batch cannot be seen.
_LONG_BATCH_LOOKS = 40

# Every this many looks at Trio, the look includes Trio's I/O readiness: a
# system call (0.6-1 us), where the other looks cost about 0.1 us. Trio tasks
# woken by I/O therefore wait up to this many trio_latency under a saturating
# asyncio load; those woken by a deadline or by asyncio code, one at most.
_IO_LOOK_EVERY = 4

# Callbacks run between two looks at the clock, at most. A clock read costs
# about 50 ns, so 32 cheap callbacks (1-2 µs each) make it noise, while 32
# slow ones bound how far a batch can overrun before the driver notices. The
# chunk also shrinks when callbacks are slow, to about half of trio_latency.
_MAX_CHUNK = 32

# After an exit request, iterations run while callbacks remain (done-callbacks
# of the shutdown itself), but no more than this: a callback that always
# reschedules itself must not keep the loop alive. asyncio's close() drops
# whatever is still queued, and so do we.
_EXIT_DRAIN_ITERATIONS = 100

# Driver._trio_clock_time of a loop whose time() is not the Trio clock.
_NOT_TRIO_CLOCK = object()

# asyncio's thresholds for purging cancelled timers from the heap.
_MIN_SCHEDULED = MIN_SCHEDULED_TIMER_HANDLES
_MIN_CANCELLED_FRACTION = MIN_CANCELLED_TIMER_HANDLES_FRACTION


# Trio checkpoints an idle driver takes before parking when Trio has tasks to
# run (tasks our batch woke or started, say) or the batch handled I/O: such a
# task usually hands the loop work (its next bridge call) within these, a
# loopback peer answers as fast, and checkpoints are far cheaper than a park
# and a wake-up. Two, because Trio runs each batch of tasks in random order:
# the task handing us work may run after us in the first one. After a batch
# that only ran timers and callbacks, the driver parks at once (an idle
# program's timer wake-up then costs one batch).
_SPINS_BEFORE_PARKING = 2

# Trio's run queue as seen at the driver's last this many batches: Trio runs
# each batch in a random direction, so under load about half the driver's
# steps come first in theirs and see an empty queue (see `_trio_busy`).
_BUSY_HISTORY = 8
_BUSY_MASK = (1 << _BUSY_HISTORY) - 1


# Ctrl-C inside Trio: Trio's SIGINT handler raises KeyboardInterrupt in
# whatever frame runs, unless that frame (or the nearest marked one around it)
# is KI-protected; then Trio delivers it to its main task at a checkpoint. The
# driver's own steps are protected: an interrupt there would end the driver
# and leave the loop's shutdown waiting for asyncio work nobody runs. The
# asyncio code a batch runs is not, as any Trio task's code: it gets the
# KeyboardInterrupt where it runs (a busy callback included), and the batch
# hands it to `on_fatal`.
_driver_step = trio.lowlevel.enable_ki_protection
_asyncio_work = trio.lowlevel.disable_ki_protection


#: The largest ``trio_latency`` accepted: beyond it Trio code would stall visibly.
MAX_TRIO_LATENCY = 0.1


def _runs_in_real_time(clock: trio.abc.Clock) -> bool:
    """Whether `clock` is Trio's default clock or aiotrio's: both read CLOCK_MONOTONIC."""
    kind = type(clock)
    return kind is MonotonicClock or (
        kind.__name__ == "SystemClock" and kind.__module__.startswith("trio.")
    )


def check_trio_latency(value: object, call: str) -> float:
    """`value` as a ``trio_latency`` in seconds; ValueError naming `call` if it is not one."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_TRIO_LATENCY
    ):
        raise ValueError(
            f"{call}: trio_latency must be a number of seconds > 0 and "
            f"<= {MAX_TRIO_LATENCY:g}, not {value!r}"
        )
    return float(value)


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
      context (`AsyncioContext`), until nothing is left to do or Trio needs
      the thread. An iteration cut short resumes exactly where it stopped, so
      asyncio's ordering holds.
    - Trio needs the thread when one of its cancel-scope deadlines is due
      (watched continuously: the batch's time budget ends there), or when a
      look, every `trio_latency` seconds, finds Trio tasks queued to run or
      an fd a Trio task waits on ready (`TrioView`). The driver then yields
      to Trio with one checkpoint, and its next batch runs at most
      `trio_latency` (the tasks Trio woke may share that Trio batch with the
      driver, after it, where it cannot see them). While Trio always has
      tasks queued, every batch is that short; when Trio looks idle a batch
      runs up to ``_LONG_BATCH_LOOKS * trio_latency``.
    - When a batch has done the work there was, the driver parks at once,
      unless Trio has tasks queued or the batch handled I/O (then it first
      takes up to `_SPINS_BEFORE_PARKING` checkpoints that find nothing to
      do: those tasks may hand it work, the peer may answer). Parked, it
      waits until I/O is ready, the earliest timer is due, or the loop's
      self-pipe is written (`EventLoop._wake`). The earliest timer wakes it
      through the readiness backend's kernel timer when there is one and the
      Trio clock runs in real time (an I/O wake-up, no cancellation);
      otherwise it is the deadline of the cancel scope around the park
      (``trio.testing.MockClock`` and its autojump see that deadline).
      A timer added while parked (`lower_deadline`) moves the wake-up
      earlier either way.
    - When a ``run_trio`` call this loop handed to a bridge worker
      (`aiotrio._bridges.Bridges`) has not run yet, and nothing is ready,
      the driver parks at once: the worker, once the call is done, runs the
      batch that its result makes (`run_parked_batch`) in its own Trio step,
      and while asyncio code keeps calling ``run_trio`` the driver stays
      parked and each call costs the worker's step alone.
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

    def __init__(
        self, loop: EventLoop, readiness: Readiness, trio_latency: float, *, own_clock: bool = True
    ) -> None:
        self._trio_latency = trio_latency
        self._on_fatal: Callable[[BaseException], None] | None = None
        self._returns_on_stop = True
        # EventLoop.time if loop.time() is the loop's Trio clock (not
        # overridden by a subclass); whether a test patched the instance's
        # "time" is checked per use. Not with vars(loop): on 3.11 and 3.12 an
        # instance whose __dict__ was ever asked for loses the specialised
        # attribute and method loads, and asyncio's every self.x gets slower.
        self._trio_clock_time: object = type(loop).time if own_clock else _NOT_TRIO_CLOCK
        self._loop = loop
        self._readiness = readiness
        readiness.offer_batches(self.batch_while_parked)
        loop._trio.bridges.offer_parked_batches(self)
        self._context = AsyncioContext(
            loop, loop._asyncgen_firstiter_hook, loop._asyncgen_finalizer_hook
        )
        # Callbacks of the current iteration not yet run (budget ran out).
        self._unfinished = 0
        # Callbacks per look at the clock (see _MAX_CHUNK), and the time a
        # chunk should take.
        self._chunk = _MAX_CHUNK
        self._chunk_time = trio_latency / 2
        self._exit_requested = False
        self._iterations_since_exit_request = 0
        self._running = False
        self._park_scope: trio.CancelScope | None = None
        # The backend's kernel timer while serving on a real-time clock.
        self._timer: KernelTimer | None = None
        self._view: TrioView | None = None
        # The last yield was for Trio tasks queued to run: keep the next
        # batch short. / The batch ended because Trio tasks wake up now.
        self._trio_pending = False
        self._woke_trio = False
        # The current batch handled I/O events.
        self._saw_io = False
        # One bit per recent batch, newest lowest: Trio had tasks queued at
        # its start (`_trio_busy`).
        self._trio_queue_seen = 0
        # How the last batch run for the parked driver (`batch_while_parked`)
        # ended, when it had to wake the driver; None otherwise.
        self._parked_end: BatchEnd | None = None
        # What such a batch raised when the one running it could not hand it
        # to the driver (a bridge worker: `run_parked_batch`).
        self._parked_error: BaseException | None = None
        #: Statistics for tests and benchmarks: batches run, and how many of
        #: them ended early because Trio had work (a look or a deadline).
        self.batches = 0
        self.yields_for_trio = 0

    @property
    def trio_latency(self) -> float:
        """Seconds between looks at Trio while asyncio keeps the driver busy."""
        return self._trio_latency

    @trio_latency.setter
    def trio_latency(self, seconds: float) -> None:
        self._trio_latency = check_trio_latency(seconds, "Driver.trio_latency")
        self._chunk_time = self._trio_latency / 2

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
        timer = self._timer
        if timer is not None:
            now = self._loop._trio.now()
            deadline = self._wake_up_deadline(self._trio_deadline(when), now)
            if timer.deadline is None or deadline < timer.deadline:
                timer.set(deadline, now)
            return
        scope = self._park_scope
        if scope is not None:
            deadline = self._trio_deadline(when)
            scope.deadline = min(scope.deadline, deadline)

    def _reads_trio_clock(self) -> bool:
        return getattr(self._loop.time, "__func__", None) is self._trio_clock_time

    def _trio_deadline(self, when: float) -> float:
        """The Trio deadline at which loop.time() reaches `when`."""
        if math.isnan(when):  # asyncio runs a NaN timer at once
            return -math.inf
        if self._reads_trio_clock():
            return when
        now = self._loop._trio.now()
        return now + (when - self._loop.time())

    @_driver_step
    async def run(
        self,
        *,
        returns_on_stop: bool,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Serve the loop until it stops (see the class contract)."""
        self._exit_requested = False
        self._parked_end = None
        self._parked_error = None
        self._view = current_view()
        self._trio_pending = False
        self._returns_on_stop = returns_on_stop
        self._on_fatal = on_fatal
        self._timer = self._kernel_timer()
        self._running = True
        try:
            await self._serve_until_stopped()
        finally:
            self._running = False
            self._timer = None

    def _kernel_timer(self) -> KernelTimer | None:
        """The backend's kernel timer, if the loop's clock is this run's and runs in real time."""
        timer: KernelTimer | None = getattr(self._readiness, "kernel_timer", None)
        if timer is None:
            return None
        clock = trio.lowlevel.current_clock()
        if clock is not self._loop._trio.clock or not _runs_in_real_time(clock):
            return None
        return timer

    @_driver_step
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

    @_driver_step
    async def _serve(self, scope: trio.CancelScope) -> None:
        view = self._view
        assert view is not None
        spins = 0
        loop = self._loop
        bridges = loop._trio.bridges
        waited_for_workers = False
        while True:
            handoffs = bridges.handoffs
            if handoffs and not loop._ready and not self._unfinished:
                # Calls we handed to bridge workers have not run: a batch now
                # would find nothing. One call (asyncio code calling run_trio
                # in turn): park, and its worker runs the batch its result
                # makes (`run_parked_batch`). More: one checkpoint, and the
                # next batch takes all their results (workers that find the
                # driver parked would wake it, each run one batch). A wrong
                # count costs a park or a Trio round, never a hang.
                if handoffs > 1 and not waited_for_workers:
                    waited_for_workers = True
                    await trio.lowlevel.checkpoint()
                    continue
                park = True
            else:
                park = False
                waited_for_workers = False
                end = self._batch(view)
                if end is BatchEnd.STOPPED:
                    return
                if self._woke_trio:
                    # Trio is about to wake tasks, which may run after the
                    # driver in Trio's next batch: one more checkpoint makes
                    # sure they have run before the driver's next batch.
                    self._woke_trio = False
                    await trio.lowlevel.checkpoint()
                if end is not BatchEnd.BUSY:
                    # Nothing to do for now.
                    runnable = view.runnable()
                    if end is BatchEnd.DRAINED and (runnable or self._saw_io):
                        # Work may follow at once: Trio tasks this batch woke or
                        # started hand us their next call within a batch or two,
                        # and I/O begets I/O (a reply to what we just sent).
                        spins = _SPINS_BEFORE_PARKING
                        self._trio_pending = runnable > 0
                    elif spins:
                        spins -= 1
                    else:
                        # An asyncio timer due within a Trio round is waited
                        # for in Trio's rounds: a kernel wake-up would be seen
                        # a round late (`_wake_up_deadline`).
                        park = not self._timer_due_soon()
            if park:
                await self._park(scope)
                error, self._parked_error = self._parked_error, None
                if error is not None:
                    raise error  # from a batch run for us, as if from our own
                parked_end, self._parked_end = self._parked_end, None
                if parked_end is BatchEnd.STOPPED:
                    return
                if parked_end is None or not self._woke_trio:
                    continue
                # A batch run for us wants Trio's woken tasks to run
                # first: as after a batch of our own (above).
                self._woke_trio = False
            await trio.lowlevel.checkpoint()

    def _arm_wake_up(self) -> None:
        """Make the parked driver wake when the loop's earliest timer is due."""
        loop = self._loop
        scheduled = loop._scheduled
        timer = self._timer
        if timer is not None:
            # The scope's deadline stays inf: the timerfd wakes the wait.
            # The same deadline as armed means it has not fired: a select(0)
            # that reported its expiry was followed by the timer check that
            # ran that timer (see aiotrio._kernel_timer).
            if scheduled:
                now = loop._trio.now()
                deadline = self._wake_up_deadline(self._trio_deadline(scheduled[0]._when), now)
                if deadline != timer.deadline:
                    timer.set(deadline, now)
            elif timer.deadline is not None:
                timer.clear()
            return
        scope = self._park_scope
        if scope is not None:
            deadline = self._trio_deadline(scheduled[0]._when) if scheduled else math.inf
            if scope.deadline != deadline:
                scope.deadline = deadline

    def _wake_up_deadline(self, due: float, now: float) -> float:
        """When the kernel timer should wake the parked driver for a timer due at `due`.

        Both are Trio times. While Trio runs other tasks (`_trio_queue_seen`),
        a wake-up is seen only at the end of Trio's current round and runs in
        the next: up to two rounds late, about 100 us under ten busy tasks.
        Then the timer goes off `trio_latency` early, and the driver waits
        for the rest in Trio's rounds (`_timer_due_soon`): a round late at
        most. An armed early deadline has passed once it has fired, so the
        next call returns `due` and re-arms (see `_arm_wake_up`).
        """
        early = due - self._trio_latency
        if self._trio_queue_seen and early > now:
            return early
        return due

    def _timer_due_soon(self) -> bool:
        """Whether the next asyncio timer is near enough to wait for in Trio's rounds.

        Only with the kernel timer (a real-time clock) and while Trio runs
        other tasks: an idle Trio would make it a busy wait.
        """
        if self._timer is None or not self._trio_queue_seen:
            return False
        scheduled = self._loop._scheduled
        if not scheduled:
            return False
        due = self._trio_deadline(scheduled[0]._when)
        return due - self._loop._trio.now() <= self._trio_latency

    def _settle_parked(self) -> bool:
        """After a batch: arm the wake-up and mark the driver parked.

        False (the driver left awake) if work came since the batch's last
        look: scheduled before the mark, it woke nobody. A Python signal
        handler runs between any two bytecodes and may schedule it then.
        """
        loop = self._loop
        scheduled = loop._scheduled
        earliest = scheduled[0] if scheduled else None
        self._arm_wake_up()
        side = loop._trio
        side.mark_parked()
        if loop._ready or loop._stopping or (scheduled[0] if scheduled else None) is not earliest:
            side.mark_awake()
            return False
        return True

    @_driver_step
    async def _park(self, scope: trio.CancelScope) -> None:
        if not self._settle_parked():
            return  # run it: waiting would wait for nothing
        side = self._loop._trio
        try:
            await self._readiness.wait()
        finally:
            side.mark_awake()
            self._trio_pending = False

    @_driver_step
    def batch_while_parked(self) -> outcome.Outcome[None] | bool:
        """Run one batch in the calling Trio task while the driver is parked.

        For a readiness backend whose waits run in Trio tasks of their own
        (``"trio"``): the task Trio wakes for an fd runs the batch at once, so
        an event costs one Trio task step, not a hand-off to the driver and
        back. Call it only while the driver is parked in ``readiness.wait()``
        (`_park`), from a task other than the driver.

        When the driver stays parked (its park deadline then follows the
        timers the batch added), returns whether more work may follow at once
        (the batch handled I/O or woke Trio tasks): where the driver would
        spin (`_SPINS_BEFORE_PARKING`), the caller may take checkpoints and
        call again. Otherwise returns the outcome to reschedule the driver's
        wait with: an error the batch raised (the driver raises it), or a
        value when work remains or the loop stopped (the driver continues or
        ends as after a batch of its own).
        """
        view = self._view
        assert view is not None
        if self._parked_error is not None:
            return outcome.Value(None)  # the driver is woken to raise it
        side = self._loop._trio
        side.mark_awake()  # callbacks need not wake the driver: they run now
        try:
            end = self._batch(view)
        except BaseException as exc:
            return outcome.Error(exc)
        if end is BatchEnd.DRAINED or end is BatchEnd.IDLE:
            if self._settle_parked():
                return end is BatchEnd.DRAINED and (self._saw_io or view.runnable() > 0)
            end = BatchEnd.BUSY
        self._parked_end = end
        return outcome.Value(None)

    # -- batches run by bridge workers (aiotrio._bridges.ParkedDriver) -------------

    def hold_parked(self) -> bool:
        """Before a bridge worker queues work: whether the driver is parked.

        If it is (and nobody has woken it), it is marked awake so that the
        work queued now does not wake it through the self-pipe, and the
        caller must then call `run_parked_batch` or `wake`, without a Trio
        checkpoint in between.
        """
        side = self._loop._trio
        if side.intercept != PARKED or self._parked_error is not None:
            return False
        side.mark_awake()
        return True

    @_driver_step
    def run_parked_batch(self) -> None:
        """After `hold_parked`: run the parked driver's batch in the calling task.

        The batch ends as soon as an iteration leaves nothing ready, without
        the iteration that would only poll again: the parked driver's wait
        sees the I/O and timers that come due after it. The driver stays
        parked when the batch has done the work there was; otherwise it is
        woken to go on (work remains, the loop stopped) or to raise what the
        batch raised.
        """
        view = self._view
        assert view is not None
        try:
            end = self._batch(view, True)
        except BaseException as exc:
            self._parked_error = exc
            self._loop._wake()
            return
        if end is BatchEnd.DRAINED or end is BatchEnd.IDLE:
            if self._settle_parked():
                return
            end = BatchEnd.BUSY
        self._parked_end = end
        self._loop._wake()

    def wake(self) -> None:
        """After `hold_parked`, instead of a batch: wake the driver."""
        self._loop._wake()

    @_asyncio_work
    def _batch(self, view: TrioView, one_pass: bool = False) -> BatchEnd:
        loop = self._loop
        context = self._context
        saved = context.enter()
        self.batches += 1
        self._saw_io = False
        try:
            started = perf_counter()
            latency = self._trio_latency
            # How long this batch may run: short if Trio has work that may
            # be waiting behind the driver, never past Trio's next deadline.
            queued = view.runnable() > 0
            self._trio_queue_seen = ((self._trio_queue_seen << 1) | queued) & _BUSY_MASK
            limit = latency if self._trio_pending or queued else latency * _LONG_BATCH_LOOKS
            self._trio_pending = False
            to_deadline = view.seconds_to_deadline()
            deadline_at = started + to_deadline
            batch_end = started + (limit if limit < to_deadline else to_deadline)
            look_at = started + latency
            budget_end = look_at if look_at < batch_end else batch_end
            worked = False
            looks = 0
            iterate = self._iterate
            # A worker's batch (one_pass) runs right after Trio's own poll,
            # in which the parked driver waits for the loop's I/O: its first
            # iteration need not poll again (later ones do, as asyncio's).
            poll = not one_pass
            # Callbacks and events (plus one per iteration) since the clock
            # was read: it is read once they reach the chunk size, so a
            # batch overruns its budget by one chunk at most, as _run_ready.
            since_read = 0
            while True:
                if self._unfinished:
                    remaining, self._unfinished = self._unfinished, 0
                    self._unfinished = self._run_ready(remaining, budget_end)
                    did_work = True
                    drained = one_pass and not loop._ready
                    since_read = -1  # _run_ready sized its own chunks: read now
                else:
                    # After an exit request, the checks below count iterations.
                    room = 1 if self._exit_requested else self._chunk - since_read
                    spent = iterate(budget_end, poll, room, one_pass)
                    poll = True
                    if spent < 0:  # nothing is ready, and no need to poll again
                        spent = -spent
                        did_work = spent > 1  # more than one empty iteration
                        drained = True
                    else:
                        did_work = True
                        drained = one_pass and not loop._ready
                    since_read += spent
                if not self._unfinished:
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
                    if drained:
                        return BatchEnd.DRAINED if worked or did_work else BatchEnd.IDLE
                worked = True
                if 0 < since_read < self._chunk:
                    continue
                now = perf_counter()
                if since_read > 1:
                    self._fit_chunk(since_read, now - started)
                since_read = 0
                started = now
                if now >= budget_end:
                    looks += 1
                    full_look = looks % _IO_LOOK_EVERY == 0 or now >= batch_end
                    if full_look:
                        # Deadlines can move too (a MockClock jumping).
                        deadline_at = now + view.seconds_to_deadline()
                        batch_end = min(batch_end, deadline_at)
                    if now >= deadline_at or (full_look and view.io_ready()):
                        # Trio tasks wake now (a deadline, I/O): let them run
                        # before any more asyncio work (see _serve).
                        self._woke_trio = True
                        self.yields_for_trio += 1
                        return BatchEnd.BUSY
                    if view.runnable():
                        self._trio_pending = True
                        self.yields_for_trio += 1
                        return BatchEnd.BUSY
                    if now >= batch_end:
                        if deadline_at - now < latency:
                            # Cut short by Trio's deadline, which the clock
                            # reads above place a microsecond or two later
                            # than the first estimate: it falls due during
                            # our checkpoint, and the woken task must run
                            # before our next (long) batch.
                            self._woke_trio = True
                        return BatchEnd.BUSY
                    look_at = now + latency
                    budget_end = look_at if look_at < batch_end else batch_end
        except BaseException as exc:
            lost = handle_not_started(exc) or _POP_WINDOWS.popped_not_run(exc)
            if lost is not None:
                loop._ready.appendleft(lost)  # it runs first, as it would have
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

    def _iterate(self, budget_end: float, poll: bool, room: int, one_pass: bool) -> int:
        """Run iterations while they find work; return their cost.

        Each iteration is adapted from CPython's BaseEventLoop._run_once
        (Lib/asyncio/base_events.py, 3.11-3.15): same steps and order, a
        non-blocking poll (none in the first without `poll`), chunked
        callbacks. They go on until one finds nothing to do, `room` is spent,
        the loop is asked to stop, an iteration's callbacks do not fit the
        chunk (`_unfinished`), or, with `one_pass`, one leaves nothing ready:
        the batch's checks then run, as they would after every iteration,
        without costing the iterations between.

        The cost is one per event, callback and iteration; negative when
        nothing is ready and polling again could only find I/O: the last
        iteration found nothing, or the batch saw no I/O and no timer is due.
        """
        loop = self._loop
        ready = loop._ready
        select = loop._selector.select
        chunk = self._chunk  # only _run_ready changes it, and we return after it
        spent = 0
        while True:
            scheduled = loop._scheduled
            if scheduled:
                count = len(scheduled)
                if (
                    count > _MIN_SCHEDULED
                    and loop._timer_cancelled_count / count > _MIN_CANCELLED_FRACTION
                ):
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

            events = 0
            if poll:
                event_list: Any = select(0)
                if event_list:
                    events = len(event_list)
                    self._saw_io = True
                    loop._process_events(event_list)
                event_list = None  # break cycles if a callback raises
            poll = True

            if scheduled:
                end_time = loop.time() + loop._clock_resolution
                while scheduled:
                    handle = scheduled[0]
                    if handle._when >= end_time:
                        break
                    handle = heappop(scheduled)
                    handle._scheduled = False
                    ready.append(handle)

            ntodo = len(ready)
            if not ntodo and not events:
                return -spent - 1
            spent += events + ntodo + 1
            if ntodo <= chunk and not loop._debug:
                # The common case, inlined: exactly BaseEventLoop._run_once's loop.
                for _ in range(ntodo):
                    handle = ready[0]  # held before the pop: see aiotrio._popped_handles
                    ready.popleft()
                    if handle._cancelled:
                        continue
                    handle._run()
                handle = None  # as _run_once: let the last handle go now
            elif ntodo:
                self._unfinished = self._run_ready(ntodo, budget_end)
                return spent
            if spent >= room or loop._stopping:
                return spent
            if not ready:
                if one_pass:
                    return spent
                if not self._saw_io and not _timer_due(loop):
                    # Only timers and callbacks ran: the poll that would end
                    # the batch can only find I/O, which the parked driver's
                    # wait sees as well (one system call less per wake-up).
                    return -spent

    def _run_ready(self, count: int, budget_end: float) -> int:
        """Run up to `count` ready callbacks; return how many the budget left."""
        loop = self._loop
        ready = loop._ready
        chunk_started = perf_counter()
        while True:
            chunk = count if count < self._chunk else self._chunk
            count -= chunk
            if loop._debug:
                self._run_ready_debug(chunk)
            else:
                for _ in range(chunk):
                    handle = ready[0]  # held before the pop: see aiotrio._popped_handles
                    ready.popleft()
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
        """Size the next chunk from what `callbacks` callbacks just cost.

        Proportional both ways: one slow chunk (a garbage collection) shrinks
        the next, and the chunk after it grows back at once.
        """
        target = callbacks * self._chunk_time
        if target >= elapsed * _MAX_CHUNK:
            self._chunk = _MAX_CHUNK
        else:
            fitted = int(target / elapsed)
            self._chunk = fitted if fitted > 1 else 1

    def _run_ready_debug(self, chunk: int) -> None:
        """As `_run_ready`, with asyncio's slow-callback warning.

        Adapted from the debug branch of CPython's BaseEventLoop._run_once.
        """
        loop = self._loop
        ready = loop._ready
        for _ in range(chunk):
            t0 = loop.time()
            handle = ready[0]  # held before the pop: see aiotrio._popped_handles
            ready.popleft()
            if handle._cancelled:
                continue
            try:
                loop._current_handle = handle
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


def _timer_due(loop: Any) -> bool:
    """Whether the loop's earliest timer is due (as _run_once decides it)."""
    scheduled = loop._scheduled
    return bool(scheduled) and scheduled[0]._when < loop.time() + loop._clock_resolution


_POP_WINDOWS = PopWindows(Driver._iterate, Driver._run_ready, Driver._run_ready_debug)
