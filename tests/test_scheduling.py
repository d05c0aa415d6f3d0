"""call_soon, call_later, call_at, call_soon_threadsafe and timer bookkeeping."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable


def _scenario(loop: asyncio.AbstractEventLoop, seed: int, done: asyncio.Future[None]) -> list[str]:
    """Callbacks that schedule more callbacks and timers (some already due), randomly.

    Returns the list the callbacks append their names to, in the order they ran.
    """
    rng = random.Random(seed)
    order: list[str] = []
    pending = [0]

    def callback(name: str, depth: int) -> None:
        order.append(name)
        pending[0] -= 1
        if depth < 4:
            for child in range(rng.randint(1 if depth == 0 else 0, 3)):
                child_name = f"{name}.{child}"
                pending[0] += 1
                kind = rng.choice(["soon", "later-negative", "later-zero", "at-past"])
                if kind == "soon":
                    loop.call_soon(callback, child_name + "s", depth + 1)
                elif kind == "later-negative":
                    loop.call_later(-rng.random(), callback, child_name + "n", depth + 1)
                elif kind == "later-zero":
                    loop.call_later(0, callback, child_name + "z", depth + 1)
                else:
                    loop.call_at(
                        loop.time() - 10 - rng.random(), callback, child_name + "p", depth + 1
                    )
        if pending[0] == 0 and not done.done():
            done.set_result(None)

    for root in range(3):
        pending[0] += 1
        loop.call_soon(callback, f"r{root}", 0)
    return order


async def _run_scenario(seed: int) -> list[str]:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    order = _scenario(loop, seed, done)
    await done
    return order


class _FrozenClockLoop(asyncio.SelectorEventLoop):
    """Stock asyncio on a clock that stands still, as a `MockClock` does."""

    def time(self) -> float:
        return 1000.0


@pytest.mark.parametrize("seed", range(8))
def test_callback_and_timer_order_matches_stock_asyncio(hosting: str, seed: int) -> None:
    # Frozen clocks on both sides: each deadline then depends on the seed only, not on how
    # long the machine took between two calls (a busy machine reordered them).
    with asyncio.Runner(loop_factory=_FrozenClockLoop) as stock:
        expected = stock.run(_run_scenario(seed))
    assert len(expected) > 3
    if hosting == "open_loop":
        clock = trio.testing.MockClock()
        got = aiotrio.run(aiotrio.run_asyncio, _run_scenario, seed, clock=clock)
    else:
        factory = functools.partial(aiotrio.new_event_loop, clock=trio.testing.MockClock())
        with asyncio.Runner(loop_factory=factory) as runner:
            got = runner.run(_run_scenario(seed))
    assert got == expected


def test_ready_callbacks_run_before_newly_due_timers(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        done = loop.create_future()

        def first() -> None:
            order.append("first")
            loop.call_at(loop.time() - 1, order.append, "timer")
            loop.call_soon(order.append, "soon")
            loop.call_later(0, lambda: done.set_result(None))

        loop.call_soon(first)
        await done
        return order

    assert run_aio(main) == ["first", "soon", "timer"]


def test_call_soon_is_fifo_and_returns_handles(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        handles = [loop.call_soon(seen.append, i) for i in range(100)]
        assert all(isinstance(h, asyncio.Handle) for h in handles)
        handles[5].cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen

    assert run_aio(main) == [i for i in range(100) if i != 5]


def test_timers_fire_in_time_order_and_not_early(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired: list[tuple[str, float]] = []
        done = loop.create_future()
        loop.call_later(0.06, lambda: fired.append(("c", loop.time() - start)))
        loop.call_later(0.02, lambda: fired.append(("a", loop.time() - start)))
        loop.call_at(start + 0.04, lambda: fired.append(("b", loop.time() - start)))
        loop.call_later(0.08, done.set_result, None)
        handle = loop.call_later(0.03, fired.append, ("never", 0.0))
        handle.cancel()
        await done
        return fired

    fired = run_aio(main)
    assert [name for name, _ in fired] == ["a", "b", "c"]
    for (_, at), due in zip(fired, [0.02, 0.04, 0.06], strict=True):
        assert at >= due - 0.001


def test_call_at_rejects_none_and_closed_loop_rejects_scheduling() -> None:
    loop = aiotrio.new_event_loop()
    with pytest.raises(TypeError, match="when cannot be None"):
        loop.call_at(None, print)  # type: ignore[arg-type]
    loop.close()
    for schedule in (
        lambda: loop.call_soon(print),
        lambda: loop.call_later(1, print),
        lambda: loop.call_at(1, print),
        lambda: loop.call_soon_threadsafe(print),
    ):
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            schedule()


def test_callbacks_scheduled_before_running_and_between_runs_are_kept() -> None:
    loop = aiotrio.new_event_loop()
    try:
        seen: list[str] = []
        loop.call_soon(seen.append, "before")
        loop.call_later(0.01, seen.append, "timer")
        loop.run_until_complete(asyncio.sleep(0.02))
        loop.call_soon(seen.append, "between")
        loop.call_later(-1, seen.append, "negative")
        loop.run_until_complete(asyncio.sleep(0))
        assert seen == ["before", "timer", "between", "negative"]
    finally:
        loop.close()


def test_stop_before_run_forever_runs_one_iteration() -> None:
    loop = aiotrio.new_event_loop()
    try:
        seen: list[int] = []

        def chain(n: int) -> None:
            seen.append(n)
            loop.call_soon(chain, n + 1)

        loop.call_soon(chain, 0)
        loop.stop()
        loop.run_forever()
        assert seen == [0]
        loop.stop()
        loop.run_forever()
        assert seen == [0, 1]
    finally:
        loop.close()


def test_call_soon_threadsafe_from_a_thread_wakes_an_idle_loop(
    run_aio: Callable[..., Any],
) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[str] = loop.create_future()
        handles: list[asyncio.Handle] = []

        loop_idle = threading.Event()

        def from_thread() -> None:
            loop_idle.wait(30)
            handles.append(loop.call_soon_threadsafe(result.set_result, "woken"))

        thread = threading.Thread(target=from_thread)
        thread.start()
        loop.call_soon(loop_idle.set)  # the last callback before the loop parks
        try:
            # Nothing else is scheduled: only the thread's call can end this wait in time.
            value = await asyncio.wait_for(result, 30)
        finally:
            thread.join()
        assert isinstance(handles[0], asyncio.Handle)
        return value

    assert run_aio(main) == "woken"


def test_call_soon_threadsafe_from_a_signal_handler(run_aio: Callable[..., Any]) -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[int] = loop.create_future()

        def handler(signum: int, frame: object) -> None:
            loop.call_soon_threadsafe(got.set_result, signum)

        previous = signal.signal(signal.SIGUSR1, handler)
        thread = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
        try:
            thread.start()
            return await asyncio.wait_for(got, 30)
        finally:
            thread.join()
            signal.signal(signal.SIGUSR1, previous)

    assert run_aio(main) == signal.SIGUSR1


def test_call_soon_from_a_trio_task_wakes_the_parked_loop() -> None:
    async def main() -> list[str]:
        async with aiotrio.open_loop() as loop:
            seen: list[str] = []
            done = trio.Event()
            await trio.testing.wait_all_tasks_blocked()  # the driver is parked by now
            loop.call_soon(seen.append, "soon")
            loop.call_later(0.01, seen.append, "later")
            loop.call_later(0.02, done.set)
            with trio.fail_after(50):  # a clear failure before pytest-timeout's 60 s
                await done.wait()
            return seen

    assert trio.run(main) == ["soon", "later"]


def test_an_earlier_timer_added_by_trio_shortens_the_parked_wait() -> None:
    """On a mock clock that moves only when told: the parked driver wakes for the new timer."""
    clock = trio.testing.MockClock()

    async def main() -> float:
        async with aiotrio.open_loop() as loop:
            fired = trio.Event()
            loop.call_later(10, print, "far")
            await trio.testing.wait_all_tasks_blocked()  # parked until the far timer
            start = trio.current_time()
            loop.call_later(0.05, fired.set)
            await trio.testing.wait_all_tasks_blocked()
            assert not fired.is_set()
            clock.jump(0.05)
            await trio.testing.wait_all_tasks_blocked()
            assert fired.is_set()  # else the driver still sleeps until the far timer
            return trio.current_time() - start

    assert trio.run(main, clock=clock) == pytest.approx(0.05)


@pytest.mark.parametrize("cancelled", [150, 50])
def test_cancelled_timers_are_purged(run_aio: Callable[..., Any], cancelled: int) -> None:
    """As asyncio does: once over half of more than 100 timers are cancelled, the next
    iteration drops every cancelled one from the heap, not only those at its head."""

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, aiotrio.EventLoop)
        base = len(loop._scheduled)
        # Far timers; the earliest stays live, so none is popped from the head.
        timers = [loop.call_later(3600 + i, lambda: None) for i in range(200)]
        for timer in timers[200 - cancelled :]:
            timer.cancel()
        before = len(loop._scheduled) - base
        await asyncio.sleep(0)  # one more iteration
        after = len(loop._scheduled) - base
        for timer in timers:
            timer.cancel()
        return before, after, sum(timer in loop._scheduled for timer in timers[:50])

    before, after, earliest_kept = run_aio(main)
    assert before == 200
    assert after == (50 if cancelled == 150 else 200)
    assert earliest_kept == 50


def test_loop_time_is_monotonic_and_hosted_time_is_time_monotonic() -> None:
    loop = aiotrio.new_event_loop()
    try:
        before = time.monotonic()
        inside = loop.run_until_complete(_loop_time())
        between = loop.time()
        second = loop.run_until_complete(_loop_time())
        after = time.monotonic()
        assert before <= inside <= between <= second <= after
    finally:
        loop.close()


async def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def test_loop_time_inside_open_loop_is_trios_clock() -> None:
    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            t0 = trio.current_time()
            inside = await aiotrio.run_asyncio(_loop_time)
            assert t0 <= inside <= trio.current_time()
            assert t0 <= loop.time() <= trio.current_time()

    trio.run(main)
