"""The clock a loop reads when it hosts its own Trio runs."""

from __future__ import annotations

import time

import trio


class MonotonicClock(trio.abc.Clock):
    """A Trio clock that reads ``time.monotonic()``, as stock asyncio loops do.

    A loop driven by ``run_until_complete()``/``run_forever()`` starts a new
    ``trio.run`` for every call. Trio's default clock adds a random offset per
    run, which would make ``loop.time()`` jump between runs; this clock keeps
    ``loop.time()`` continuous across runs and equal to stock asyncio's.
    """

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return time.monotonic()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - time.monotonic()
