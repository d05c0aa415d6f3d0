"""The parked driver: how its next asyncio timer and wake-ups reach it.

On Linux with the selector backend and a real-time Trio clock, the parked
driver's next timer is a kernel timer (timerfd) in the loop's selector
(`aiotrio._kernel_timer`); with a MockClock or the trio backend it is the
deadline of the cancel scope around the park. These tests wait for states
(``wait_all_tasks_blocked``, events, fds becoming readable) with generous
real-time bounds only as a guard against hangs.
"""

from __future__ import annotations

import asyncio
import math
import os
import select
import selectors
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio
from aiotrio._kernel_timer import KernelTimer, make_kernel_timer
from aiotrio._trio_side import PARKED

from .conftest import sleep_until_cancelled

if TYPE_CHECKING:
    from collections.abc import Iterator

LINUX_SELECTOR = sys.platform.startswith("linux") and (
    os.environ.get("AIOTRIO_READINESS", "selector") == "selector"
)
needs_kernel_timer = pytest.mark.skipif(
    not LINUX_SELECTOR, reason="the kernel timer is Linux's timerfd, used by the selector backend"
)


def _readable(fd: int, timeout: float = 0) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


@pytest.fixture
def epoll_selector() -> Iterator[selectors.EpollSelector]:
    if not hasattr(selectors, "EpollSelector"):
        pytest.skip("epoll is Linux's")
    selector = selectors.EpollSelector()
    yield selector
    selector.close()


# -- the kernel timer on its own ----------------------------------------------------


@needs_kernel_timer
def test_kernel_timer_makes_the_selector_readable_at_its_deadline(
    epoll_selector: selectors.EpollSelector,
) -> None:
    timer = make_kernel_timer(epoll_selector)
    assert isinstance(timer, KernelTimer)
    fd = epoll_selector.fileno()
    try:
        timer.set(3600.0, 0.0)
        assert timer.deadline == 3600.0
        assert not _readable(fd)
        timer.set(5.0, 5.0)  # due now: fires at once
        assert _readable(fd, timeout=10)
        # The expiry is not asyncio's: select() skips it, and reports it once.
        assert epoll_selector.select(0) == []
        assert not _readable(fd)
        timer.set(10.0, 10.0)  # re-armed after firing
        assert _readable(fd, timeout=10)
        timer.clear()  # a pending expiry is dropped with the disarm
        assert timer.deadline is None
        assert not _readable(fd)
        timer.set(math.inf, 0.0)  # never: disarmed
        assert timer.deadline is None
        assert not _readable(fd)
    finally:
        timer.close()
        timer.close()  # idempotent


@needs_kernel_timer
def test_kernel_timer_leaves_asyncio_events_alone(
    epoll_selector: selectors.EpollSelector,
) -> None:
    timer = make_kernel_timer(epoll_selector)
    assert timer is not None
    reader, writer = os.pipe()
    try:
        epoll_selector.register(reader, selectors.EVENT_READ, "pipe")
        timer.set(1.0, 1.0)
        os.write(writer, b"x")
        assert _readable(epoll_selector.fileno(), timeout=10)
        seen: list[Any] = []
        for _ in range(2):  # the expiry may take the only slot select() asks for
            seen += [key.data for key, _ in epoll_selector.select(0)]
        assert seen.count("pipe") >= 1
        assert set(seen) == {"pipe"}
    finally:
        epoll_selector.unregister(reader)
        timer.close()
        os.close(reader)
        os.close(writer)


def test_no_kernel_timer_for_other_selectors() -> None:
    selector = selectors.SelectSelector()
    try:
        assert make_kernel_timer(selector) is None
    finally:
        selector.close()


# -- which park the driver uses ------------------------------------------------------


async def _parked(loop: aiotrio.EventLoop) -> None:
    await trio.testing.wait_all_tasks_blocked()
    assert loop._trio.intercept == PARKED


def _forget_trio_load(loop: aiotrio.EventLoop) -> None:
    """Make the driver arm exact wake-ups from now on (until Trio tasks queue again).

    The block's first batches saw the test's own Trio tasks queued, and for a
    few batches after that the driver arms its timer `trio_latency` early
    (see `test_under_trio_load_the_timer_goes_off_early_and_the_rest_is_waited_in_trio`).
    """
    loop._trio.driver._trio_queue_seen = 0


@needs_kernel_timer
def test_real_clock_parks_on_the_kernel_timer_and_mock_clock_does_not() -> None:
    async def main() -> tuple[float | None, float]:
        async with aiotrio.open_loop() as loop:
            timer = loop._trio.driver._timer
            assert timer is not None
            await _parked(loop)
            _forget_trio_load(loop)
            handle = loop.call_later(3600, print, "never")
            await _parked(loop)
            armed = timer.deadline
            handle.cancel()
            return armed, handle.when()

    armed, when = trio.run(main)
    assert armed == when

    async def mocked() -> None:
        async with aiotrio.open_loop() as loop:
            assert loop._trio.driver._timer is None
            # Autojump sees the park's deadline: an hour passes at once.
            start = trio.current_time()
            await aiotrio.run_asyncio(asyncio.sleep, 3600)
            assert trio.current_time() - start == pytest.approx(3600)

    trio.run(mocked, clock=trio.testing.MockClock(autojump_threshold=0))


def test_trio_backend_keeps_the_cancel_scope_deadline() -> None:
    async def main() -> None:
        async with aiotrio.open_loop(readiness="trio") as loop:
            assert loop._trio.driver._timer is None
            with trio.fail_after(10):
                await aiotrio.run_asyncio(asyncio.sleep, 0.001)

    trio.run(main)


@needs_kernel_timer
def test_hosted_runs_each_get_a_kernel_timer_and_close_it() -> None:
    loop = aiotrio.new_event_loop()
    timers: list[Any] = []

    async def sleep_and_look() -> None:
        timers.append(loop._trio.driver._timer)
        await asyncio.sleep(0.001)

    try:
        for _ in range(3):
            loop.run_until_complete(sleep_and_look())
            assert loop._trio.readiness.kernel_timer is None  # type: ignore[attr-defined]
    finally:
        loop.close()
    assert all(timer is not None for timer in timers)
    assert len({id(timer) for timer in timers}) == 3


# -- wake-ups while parked on a timer ------------------------------------------------


@pytest.mark.parametrize("clock", ["real", "mock"])
def test_own_thread_wake_while_parked_on_a_far_timer(clock: str) -> None:
    async def main() -> list[str]:
        async with aiotrio.open_loop() as loop:
            seen: list[str] = []
            far = loop.call_later(3600, seen.append, "far")
            await _parked(loop)
            loop.call_soon(seen.append, "soon")  # from a Trio task: same thread
            with trio.fail_after(10):
                await aiotrio.run_asyncio(asyncio.sleep, 0)
            far.cancel()
            return seen

    mock = trio.testing.MockClock() if clock == "mock" else None
    assert trio.run(main, clock=mock) == ["soon"]


def test_other_thread_wake_while_parked_on_a_far_timer() -> None:
    async def main() -> list[str]:
        async with aiotrio.open_loop() as loop:
            seen: list[str] = []
            done = trio.Event()
            far = loop.call_later(3600, seen.append, "far")
            await _parked(loop)

            def from_thread() -> None:
                loop.call_soon_threadsafe(seen.append, "threadsafe")
                loop.call_soon_threadsafe(done.set)

            thread = threading.Thread(target=from_thread)
            thread.start()
            with trio.fail_after(10):
                await done.wait()
            thread.join()
            far.cancel()
            return seen

    assert trio.run(main) == ["threadsafe"]


def test_timer_added_while_parked_moves_the_wake_up_earlier() -> None:
    """On the real clock: parked until an hour from now, a new 1 ms timer still fires."""

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            fired = trio.Event()
            far = loop.call_later(3600, print, "far")
            await _parked(loop)
            _forget_trio_load(loop)
            timer = loop._trio.driver._timer
            near = loop.call_later(0.001, fired.set)
            if timer is not None:
                assert timer.deadline == near.when()
            with trio.fail_after(10):  # a driver parked until the far timer never gets there
                await fired.wait()
            far.cancel()

    trio.run(main)


def test_a_fired_kernel_timer_does_not_keep_waking_the_driver() -> None:
    """After its timer ran, a parked driver with no timers stays parked."""

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            driver = loop._trio.driver
            with trio.fail_after(10):
                await aiotrio.run_asyncio(asyncio.sleep, 0.001)
            # A driver woken over and over would never let all tasks block.
            await _parked(loop)
            batches = driver.batches
            await trio.testing.wait_all_tasks_blocked()
            assert driver.batches == batches
            if driver._timer is not None:
                assert driver._timer.deadline is None

    trio.run(main)


# -- ending the block while parked on a timer ----------------------------------------


def test_cancelling_the_block_while_parked_on_a_timer_cancels_asyncio_work() -> None:
    unwound: list[str] = []

    async def main() -> None:
        with trio.move_on_after(3600) as scope:
            async with aiotrio.open_loop() as loop:
                loop.create_task(sleep_until_cancelled(unwound))
                await _parked(loop)
                scope.cancel()
                await trio.sleep_forever()
        assert scope.cancelled_caught

    trio.run(main)
    assert unwound == ["cancelled"]


def test_keyboard_interrupt_while_parked_on_a_timer_ends_the_block() -> None:
    unwound: list[str] = []

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            loop.create_task(sleep_until_cancelled(unwound))
            await _parked(loop)
            signal.raise_signal(signal.SIGINT)
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        trio.run(main)
    assert unwound == ["cancelled"]


@needs_kernel_timer
def test_under_trio_load_the_timer_goes_off_early_and_the_rest_is_waited_in_trio() -> None:
    """While Trio runs other tasks, a wake-up is seen a Trio round late: anticipate it.

    The parked driver's kernel timer is armed `trio_latency` early; woken
    early, the driver takes Trio checkpoints instead of parking until the
    asyncio timer is due. Once Trio has had nothing queued for a while, the
    timer is exact again (an idle program pays one wake-up per timer).
    """

    async def main() -> tuple[float | None, float, float | None, float, bool, float]:
        async with aiotrio.open_loop() as loop:
            driver = loop._trio.driver
            timer = driver._timer
            assert timer is not None
            latency = driver.trio_latency
            load_on = True

            async def trio_load() -> None:
                while load_on:
                    await trio.lowlevel.checkpoint()

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(trio_load)
                far = loop.call_later(3600, print, "never")
                # A few rounds: the driver sees the load and parks on `far`.
                while driver._trio_queue_seen == 0 or loop._trio.intercept != PARKED:
                    await trio.lowlevel.checkpoint()
                armed_under_load = timer.deadline
                # An asyncio timer due within a Trio round is not parked for.
                soon = loop.call_later(latency / 2, print, "soon")
                due_soon = driver._timer_due_soon()
                soon.cancel()
                load_on = False
            await _parked(loop)
            # Idle batches push the load out of the driver's history.
            for _ in range(16):
                loop.call_soon(lambda: None)
                await _parked(loop)
            armed_idle = timer.deadline
            far.cancel()
            return armed_under_load, armed_idle, far.when(), due_soon, latency

    armed_under_load, armed_idle, far_when, due_soon, latency = trio.run(main)
    assert armed_under_load == pytest.approx(far_when - latency, abs=1e-9)
    assert due_soon
    assert armed_idle == far_when


@needs_kernel_timer
def test_an_early_wake_up_whose_load_stopped_still_runs_the_timer() -> None:
    """Armed early under load, then Trio goes idle: the timer still runs, on a re-armed wake-up."""

    async def main() -> int:
        async with aiotrio.open_loop() as loop:
            driver = loop._trio.driver
            load_on = True

            async def trio_load() -> None:
                while load_on:
                    await trio.lowlevel.checkpoint()

            fired = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio_load)
                while driver._trio_queue_seen == 0:
                    await trio.lowlevel.checkpoint()
                loop.call_later(0.02, fired.set)
                load_on = False
            with trio.fail_after(10):  # a timer left armed at its early, fired deadline hangs
                await fired.wait()
            return driver.batches

    assert trio.run(main) > 0
