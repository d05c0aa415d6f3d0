"""Readiness while callbacks change registrations, and the ``trio`` backend's hand-offs.

The ``trio`` backend runs the parked driver's batch in the watcher task Trio woke and
polls recently active ("hot") fds itself in ``select(0)`` (`aiotrio._trio_readiness`).
These tests pin what must not change with that: every event reaches its callback
once, registrations changed inside callbacks take effect at once, fds handed back to
Trio still wake a parked loop, exceptions reach the driver, no watcher outlives its
registration. The first group runs on both backends (the suite's run per backend).
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio
from aiotrio._trio_readiness import _HOT_IDLE_POLLS

from .conftest import settle

if TYPE_CHECKING:
    from collections.abc import Callable


def test_fd_removed_while_its_event_is_pending(run_aio: Callable[..., Any]) -> None:
    """Two fds ready at once, each reader removing the other's: exactly one runs."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(2)]
        ran: list[int] = []

        def on_readable(i: int) -> None:
            ran.append(i)
            for a, _ in pairs:
                loop.remove_reader(a)

        try:
            for a, b in pairs:
                a.setblocking(False)
                b.send(b"x")
            for i, (a, _) in enumerate(pairs):
                loop.add_reader(a, on_readable, i)
            await settle()
            return ran
        finally:
            for a, b in pairs:
                a.close()
                b.close()

    assert len(run_aio(main)) == 1


@pytest.mark.parametrize("how", ["add_reader again", "remove then add"])
def test_reader_replaced_in_its_own_callback(run_aio: Callable[..., Any], how: str) -> None:
    """The replacement gets the next events; the replaced callback never runs again."""

    async def main() -> list[tuple[str, bytes]]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        calls: list[tuple[str, bytes]] = []
        done = loop.create_future()

        def second() -> None:
            calls.append(("second", a.recv(1)))
            if len(calls) == 3:
                loop.remove_reader(a)
                done.set_result(None)

        def first() -> None:
            calls.append(("first", a.recv(1)))
            if how == "remove then add":
                assert loop.remove_reader(a)
            loop.add_reader(a, second)

        with a, b:
            loop.add_reader(a, first)
            b.send(b"xyz")
            await asyncio.wait_for(done, 20)
            await settle()
        return calls

    assert run_aio(main) == [("first", b"x"), ("second", b"y"), ("second", b"z")]


def test_fd_closed_and_its_number_reused_in_a_callback(run_aio: Callable[..., Any]) -> None:
    """A reader removes and closes its fd; a new socket with that number is watched afresh."""

    async def main() -> tuple[bool, bytes, list[bytes]]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        number = a.fileno()
        old_calls: list[bytes] = []
        new_pair: list[socket.socket] = []
        got = loop.create_future()

        def on_new() -> None:
            if not got.done():
                got.set_result(new_pair[0].recv(10))
            loop.remove_reader(new_pair[0])

        def on_old() -> None:
            old_calls.append(a.recv(10))
            loop.remove_reader(a)
            a.close()
            b.close()
            c, d = socket.socketpair()
            c.setblocking(False)
            new_pair.extend((c, d))
            loop.add_reader(c, on_new)
            d.send(b"new")

        loop.add_reader(a, on_old)
        b.send(b"old")
        try:
            data = await asyncio.wait_for(got, 20)
            await settle()
            return new_pair[0].fileno() == number, data, old_calls
        finally:
            for sock in new_pair:
                sock.close()

    reused, data, old_calls = run_aio(main)
    assert (data, old_calls) == (b"new", [b"old"])
    assert reused  # the lowest free number: the test exercised reuse


def test_many_fds_ready_at_once_each_reported_once_per_event(
    run_aio: Callable[..., Any],
) -> None:
    """More fds than the ``trio`` backend polls itself, over rounds: no event lost or doubled."""
    count, rounds = 80, 5

    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(count)]
        calls = [0] * count
        spurious = 0
        round_done: asyncio.Future[None] = loop.create_future()
        pending = count

        def on_readable(i: int) -> None:
            nonlocal spurious, pending, round_done
            try:
                pairs[i][0].recv(100)
            except BlockingIOError:
                spurious += 1  # called without data: readiness reported twice
                return
            calls[i] += 1
            pending -= 1
            if not pending:
                round_done.set_result(None)

        try:
            for i, (a, _) in enumerate(pairs):
                a.setblocking(False)
                loop.add_reader(a, on_readable, i)
            for _ in range(rounds):
                round_done = loop.create_future()
                pending = count
                for _, b in pairs:
                    b.send(b"x")
                await asyncio.wait_for(round_done, 30)
                await settle()
            for a, _ in pairs:
                assert loop.remove_reader(a)
            return calls, spurious
        finally:
            for a, b in pairs:
                a.close()
                b.close()

    assert run_aio(main) == ([rounds] * count, 0)


# -- the trio backend's hand-offs -----------------------------------------------------


def _watchers() -> list[trio.lowlevel.Task]:
    """The readiness watcher tasks of the current Trio run."""
    found: list[trio.lowlevel.Task] = []
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        assert task is not None
        if task.coro.cr_code.co_name == "_watch":
            found.append(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return found


def test_hot_fds_still_wake_the_loop_once_it_parks() -> None:
    """After a burst of I/O (fds polled by select(0)), a parked loop wakes for the next event."""

    async def main() -> list[bytes]:
        async with aiotrio.open_loop(readiness="trio") as loop:
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            got: list[bytes] = []
            event = trio.Event()

            def on_a() -> None:
                got.append(a.recv(10))
                if len(got) < 20:
                    a.send(b"ping")  # the loop answers itself: a and b stay hot
                else:
                    event.set()

            def on_b() -> None:
                b.send(b.recv(10))

            with a, b:
                loop.add_reader(a, on_a)
                loop.add_reader(b, on_b)
                b.send(b"go")
                with trio.fail_after(20):
                    await event.wait()
                    await trio.testing.wait_all_tasks_blocked()  # the driver is parked
                    event = trio.Event()
                    b.send(b"late")
                    await event.wait()
                loop.remove_reader(a)
                loop.remove_reader(b)
            return got[-2:]

    assert trio.run(main) == [b"ping", b"late"]


def test_no_watcher_task_outlives_its_registration() -> None:
    async def main() -> tuple[int, int, int, int]:
        async with aiotrio.open_loop(readiness="trio") as loop:
            await trio.testing.wait_all_tasks_blocked()
            baseline = len(_watchers())  # the loop's self-pipe
            pairs = [socket.socketpair() for _ in range(10)]
            try:
                seen = 0
                everything = trio.Event()

                def on_readable(a: socket.socket) -> None:
                    nonlocal seen
                    a.recv(10)
                    seen += 1
                    if seen == len(pairs):
                        everything.set()

                for a, b in pairs:
                    a.setblocking(False)
                    loop.add_reader(a, on_readable, a)
                    loop.add_writer(b, lambda: None)
                registered = len(_watchers())  # started at once, one per fd and direction
                for _, b in pairs:
                    loop.remove_writer(b)  # b is always writable: keep the loop idle
                    b.send(b"x")
                with trio.fail_after(20):
                    await everything.wait()
                for a, _ in pairs:
                    loop.remove_reader(a)
                await trio.testing.wait_all_tasks_blocked()
                removed = len(_watchers())
            finally:
                for a, b in pairs:
                    a.close()
                    b.close()
        await trio.testing.wait_all_tasks_blocked()
        return baseline, registered - baseline, removed, len(_watchers())

    baseline, registered, removed, after_close = trio.run(main)
    assert (registered, removed, after_close) == (20, baseline, 0)


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt])
def test_exception_from_a_reader_run_by_a_watcher_reaches_the_caller(
    exc_type: type[BaseException],
) -> None:
    """The batch a watcher runs for the parked driver raises: run_until_complete raises it."""
    loop = aiotrio.new_event_loop(readiness="trio")
    a, b = socket.socketpair()
    try:

        def on_readable() -> None:
            raise exc_type("from a reader")

        loop.add_reader(a, on_readable)
        # Sent by a callback: the batch then parks, and a's watcher runs the next one.
        loop.call_soon(b.send, b"x")
        never = loop.create_future()
        with pytest.raises(exc_type, match="from a reader"):
            loop.run_until_complete(never)
        loop.remove_reader(a)
        never.cancel()
    finally:
        loop.close()
        a.close()
        b.close()


def test_stop_from_a_reader_run_by_a_watcher_ends_run_forever() -> None:
    loop = aiotrio.new_event_loop(readiness="trio")
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        read: list[bytes] = []

        def on_readable() -> None:
            read.append(a.recv(10))
            loop.stop()

        loop.add_reader(a, on_readable)
        loop.call_soon(b.send, b"x")
        loop.run_forever()  # a hang here is caught by pytest-timeout
        loop.remove_reader(a)
        assert read == [b"x"]
    finally:
        loop.close()
        a.close()
        b.close()


def test_many_busy_fds_stay_hot_and_idle_ones_go_back_to_their_watchers() -> None:
    """The ``trio`` backend polls every busy fd itself, however many, but not idle ones.

    Sixty pairs ping-pong at once through the loop alone: all sixty readers get
    hot (with at most 32 they took turns through their watchers, one Trio task
    step per event: 2.4x the selector backend on 100 echo clients). Then one
    pair goes on alone while the driver never parks: the idle fds leave the hot
    set, and their watchers still wake the loop for their next event.
    """
    pairs_count = 60
    busy_rounds = 20
    idle_polls = 3 * _HOT_IDLE_POLLS

    async def main() -> tuple[int, int, int, bytes]:
        async with aiotrio.open_loop(readiness="trio") as loop:
            selector: Any = loop._selector
            hot = selector._hot
            parks = 0
            real_hand_back_all = selector._hand_back_all

            def counting_hand_back_all() -> None:
                nonlocal parks
                parks += 1
                real_hand_back_all()

            # Parking hands every hot fd back: count parks, to know it was not that.
            selector._hand_back_all = counting_hand_back_all
            pairs = [socket.socketpair() for _ in range(pairs_count)]
            rounds = [0] * pairs_count
            finished = 0
            most_hot = 0
            alone_since: tuple[int, int] | None = None  # (polls, parks) then
            parks_while_alone = -1
            hot_when_done = -1
            done = trio.Event()
            late = trio.Event()
            late_data: list[bytes] = []
            try:
                for a, b in pairs:
                    a.setblocking(False)
                    b.setblocking(False)

                def on_readable(i: int) -> None:
                    nonlocal most_hot, finished, alone_since, parks_while_alone, hot_when_done
                    a, b = pairs[i]
                    data = a.recv(10)
                    if done.is_set():
                        late_data.append(data)
                        late.set()
                        return
                    rounds[i] += 1
                    most_hot = max(most_hot, len(hot.events))
                    if i != 0:
                        if rounds[i] < busy_rounds:
                            b.send(b"x")
                        else:
                            finished += 1
                        return
                    if alone_since is None and finished == pairs_count - 1:
                        alone_since = (hot.polls, parks)
                    if alone_since is not None and hot.polls >= alone_since[0] + idle_polls:
                        parks_while_alone = parks - alone_since[1]
                        hot_when_done = len(hot.events)
                        done.set()
                        return
                    b.send(b"x")  # pair 0 goes on: the driver stays busy

                for i, (a, b) in enumerate(pairs):
                    loop.add_reader(a, on_readable, i)
                    b.send(b"x")
                with trio.fail_after(30):
                    await done.wait()
                    pairs[-1][1].send(b"late")  # an fd handed back to its watcher
                    await late.wait()
                for a, _ in pairs:
                    loop.remove_reader(a)
            finally:
                for a, b in pairs:
                    a.close()
                    b.close()
            return most_hot, parks_while_alone, hot_when_done, late_data[0]

    most_hot, parks_while_alone, hot_when_done, late = trio.run(main)
    assert most_hot >= pairs_count
    assert parks_while_alone == 0  # what emptied the hot set was not a park
    assert hot_when_done <= 2
    assert late == b"late"
