"""What the driver can see of the Trio run it lives in, and what each look costs.

While asyncio work keeps the driver busy, it looks at Trio every
``trio_latency`` seconds to decide whether to give Trio the thread: are tasks
queued to run, is a cancel-scope deadline (a ``trio.sleep``, a
``move_on_after``) due, is an fd a Trio task waits on ready? Trio's public way
to ask is ``trio.lowlevel.current_statistics()``, which costs 2-4 us a call
(it counts every I/O registration). The same facts sit in the run's internals,
where Trio 0.27-0.35 keeps them, for 30-70 ns a look (timeit, Python 3.11 and
3.14); readiness of Trio's fds is one ``poll()`` of Trio's own epoll/kqueue fd
(0.6-1 us, a system call). `current_view` uses the internals when they are
there and the public call otherwise; Trio never learns that it was looked at.

Nothing here changes Trio's state: the views only read.
"""

from __future__ import annotations

import math
import select
from typing import Any, Protocol

import trio


class TrioView(Protocol):
    """Read-only looks at the current Trio run (see the module docstring)."""

    def runnable(self) -> int:
        """Tasks queued for Trio's next batch (not those of the batch running now)."""
        ...

    def seconds_to_deadline(self) -> float:
        """Real seconds until the earliest cancel-scope deadline is due (0 if it is, or inf).

        Real seconds: the run's clock converts (a ``MockClock`` may run at
        any rate, or not at all).
        """
        ...

    def io_ready(self) -> bool:
        """Whether an fd Trio waits on is ready (False where this cannot be seen)."""
        ...


class _InternalView:
    """Reads the runner's run queue, deadline heap and I/O backend directly."""

    __slots__ = ("_next_deadline", "_poll", "_runq", "_sleep_time")

    def __init__(self, runner: Any) -> None:
        self._runq = runner.runq
        self._next_deadline = runner.deadlines.next_deadline
        self._sleep_time = runner.clock.deadline_to_sleep_time
        self._poll: Any = None
        io_manager = runner.io_manager
        backend = getattr(io_manager, "_epoll", None) or getattr(io_manager, "_kqueue", None)
        if backend is not None and hasattr(select, "poll"):
            # An epoll or kqueue fd is readable while events wait in it.
            self._poll = select.poll()
            self._poll.register(backend.fileno(), select.POLLIN)

    def runnable(self) -> int:
        return len(self._runq)

    def seconds_to_deadline(self) -> float:
        deadline: float = self._next_deadline()
        if deadline == math.inf:
            return deadline
        seconds: float = self._sleep_time(deadline)
        return seconds

    def io_ready(self) -> bool:
        poll = self._poll
        return poll is not None and bool(poll.poll(0))


class _PublicView:
    """The same looks through trio.lowlevel.current_statistics() (slower)."""

    __slots__ = ()

    def runnable(self) -> int:
        return trio.lowlevel.current_statistics().tasks_runnable

    def seconds_to_deadline(self) -> float:
        seconds = trio.lowlevel.current_statistics().seconds_to_next_deadline
        return seconds if seconds > 0 else 0.0

    def io_ready(self) -> bool:
        return False


def _runner() -> Any:
    try:
        from trio._core import _run  # noqa: PLC0415 (private: only probed here)
    except ImportError:
        return None
    context: Any = getattr(_run, "GLOBAL_RUN_CONTEXT", None)
    runner: Any = getattr(context, "runner", None)
    try:
        # Probe the attributes the view reads.
        for path in (
            ("runq",),
            ("deadlines", "next_deadline"),
            ("clock", "deadline_to_sleep_time"),
        ):
            target = runner
            for name in path:
                target = getattr(target, name)
    except AttributeError:
        return None
    return runner


def current_view() -> TrioView:
    """A view of the Trio run of the calling task."""
    trio.lowlevel.current_task()  # RuntimeError outside a run, as Trio's own calls
    runner = _runner()
    if runner is None:
        return _PublicView()
    try:
        return _InternalView(runner)
    except (AttributeError, OSError, ValueError):
        return _PublicView()
