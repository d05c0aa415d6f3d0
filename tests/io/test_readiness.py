"""add_reader/remove_reader/add_writer/remove_writer.

Level-triggered, with asyncio's errors, driven by Trio, on both readiness backends.
"""

from __future__ import annotations

import asyncio
import errno
import os
import selectors
import socket
import tempfile
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.socket
import trio.testing

import aiotrio

from ..conftest import READINESS, run_in_mode
from .conftest import run_stock, settle

if TYPE_CHECKING:
    from collections.abc import Callable

BACKENDS = ["selector", "trio"]


def test_reader_is_level_triggered(run_aio: Callable[..., Any]) -> None:
    """A reader that leaves data unread is called again, as with select()."""

    async def main() -> tuple[list[bytes], int, int]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        with a, b:
            chunks: list[bytes] = []
            called = asyncio.Event()

            def on_readable() -> None:
                chunks.append(a.recv(1))  # one byte per call: the rest stays readable
                called.set()

            async def calls(n: int) -> None:
                async with asyncio.timeout(20):
                    while len(chunks) < n:
                        called.clear()
                        await called.wait()

            b.send(b"xyz")
            loop.add_reader(a, on_readable)
            await calls(3)
            # Nothing is readable now: the reader must not run again.
            await settle()
            calls_when_drained = len(chunks)
            b.send(b"!")
            await calls(calls_when_drained + 1)
            assert loop.remove_reader(a)
            return chunks, calls_when_drained, len(chunks)

    chunks, drained, final = run_aio(main)
    assert chunks == [b"x", b"y", b"z", b"!"]
    assert (drained, final) == (3, 4)


def test_unread_data_keeps_calling_the_reader(run_aio: Callable[..., Any]) -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            calls = 0
            done = loop.create_future()

            def on_readable() -> None:
                nonlocal calls
                calls += 1
                if calls == 5:
                    loop.remove_reader(a.fileno())
                    done.set_result(None)

            b.send(b"never read")
            loop.add_reader(a.fileno(), on_readable)
            await asyncio.wait_for(done, 20)
            await settle()
            return calls

    assert run_aio(main) == 5


def test_writer_runs_while_writable_and_remove_reports_registration(
    run_aio: Callable[..., Any],
) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            calls: list[str] = []
            done = loop.create_future()

            def on_writable(tag: str) -> None:
                calls.append(tag)
                if len(calls) == 3:
                    done.set_result(None)

            loop.add_writer(a, on_writable, "w")
            await asyncio.wait_for(done, 20)
            removed = [loop.remove_writer(a), loop.remove_writer(a)]
            count = len(calls)
            await settle()
            return [*removed, len(calls) - count, loop.remove_reader(a)]

    assert run_aio(main) == [True, False, 0, False]


def test_writer_waits_for_a_full_socket_to_drain(run_aio: Callable[..., Any]) -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        with a, b:
            try:
                while True:
                    a.send(b"x" * 65536)
            except BlockingIOError:
                pass
            writable = asyncio.Event()
            loop.add_writer(a, writable.set)
            await settle()
            early = writable.is_set()
            while True:  # drain the peer; the socket becomes writable again
                try:
                    b.recv(1 << 20)
                except BlockingIOError:
                    break
            await asyncio.wait_for(writable.wait(), 20)
            loop.remove_writer(a)
            return early

    assert run_aio(main) is False


def test_re_adding_a_reader_replaces_its_callback(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            seen: list[str] = []
            done = loop.create_future()

            def on_readable(tag: str) -> None:
                seen.append(tag)
                loop.remove_reader(a)
                done.set_result(None)

            loop.add_reader(a, on_readable, "first")
            loop.add_reader(a, on_readable, "second")
            b.send(b"x")
            await asyncio.wait_for(done, 20)
            await settle()
            return seen

    assert run_aio(main) == ["second"]


def test_reader_and_writer_on_one_fd_are_independent(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        with a, b:
            writes = 0
            received = loop.create_future()

            def on_writable() -> None:
                nonlocal writes
                writes += 1
                loop.remove_writer(a)

            loop.add_writer(a, on_writable)
            loop.add_reader(a, lambda: received.done() or received.set_result(a.recv(10)))
            await settle()
            b.send(b"data")
            data = await asyncio.wait_for(received, 20)
            loop.remove_reader(a)
            return writes, data

    assert run_aio(main) == (1, b"data")


def test_a_reader_sees_eof_when_the_peer_closes(run_aio: Callable[..., Any]) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        with a:
            got = loop.create_future()
            loop.add_reader(a, lambda: got.done() or got.set_result(a.recv(10)))
            loop.call_later(0.02, b.close)
            data = await asyncio.wait_for(got, 20)
            loop.remove_reader(a)
            return data

    assert run_aio(main) == b""


def test_many_fds_each_reported_once_per_event(run_aio: Callable[..., Any]) -> None:
    async def main() -> dict[int, bytes]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(200)]
        try:
            got: dict[int, bytes] = {}
            done = loop.create_future()
            chosen = list(range(0, 200, 3))

            def on_readable(i: int) -> None:
                got[i] = got.get(i, b"") + pairs[i][0].recv(100)
                loop.remove_reader(pairs[i][0])
                if len(got) == len(chosen):
                    done.set_result(None)

            for i, (a, _) in enumerate(pairs):
                a.setblocking(False)
                loop.add_reader(a, on_readable, i)
            for i in chosen:
                pairs[i][1].send(str(i).encode())
            await asyncio.wait_for(done, 30)
            for i, (a, _) in enumerate(pairs):
                if i not in chosen:
                    assert loop.remove_reader(a)
            return got
        finally:
            for a, b in pairs:
                a.close()
                b.close()

    assert run_aio(main) == {i: str(i).encode() for i in range(0, 200, 3)}


def test_readers_see_the_same_events_on_both_backends_and_stock() -> None:
    """A scripted exchange over three socket pairs gives the same reports everywhere."""

    async def script() -> list[tuple[str, bytes]]:
        loop = asyncio.get_running_loop()
        pairs = {name: socket.socketpair() for name in "abc"}
        try:
            log: list[tuple[str, bytes]] = []
            logged = asyncio.Event()
            finished = loop.create_future()

            async def logged_entries(n: int) -> None:
                """Wait until the readers have reported `n` events (one per send)."""
                async with asyncio.timeout(20):
                    while len(log) < n:
                        logged.clear()
                        await logged.wait()

            for name, (a, _) in pairs.items():
                a.setblocking(False)

                def on_readable(name: str = name, sock: socket.socket = a) -> None:
                    data = sock.recv(3)
                    log.append((name, data))
                    logged.set()
                    if not data:  # EOF
                        loop.remove_reader(sock)
                        if sum(1 for _, seen in log if not seen) == len(pairs):
                            finished.set_result(None)

                loop.add_reader(a, on_readable)
            # Each send is reported before the next is made: one report per send, in order.
            for round_ in range(3):
                for name, (_, b) in pairs.items():
                    b.send(f"{name}{round_}".encode())
                    await logged_entries(len(log) + 1)
            for _, b in pairs.values():
                b.shutdown(socket.SHUT_WR)
                await logged_entries(len(log) + 1)
            await asyncio.wait_for(finished, 20)
            return log
        finally:
            for a, b in pairs.values():
                a.close()
                b.close()

    expected = run_stock(script)
    for backend in BACKENDS:
        with asyncio.Runner(
            loop_factory=lambda backend=backend: aiotrio.new_event_loop(readiness=backend)
        ) as runner:
            assert runner.run(script()) == expected, backend

    async def in_trio(backend: str) -> list[tuple[str, bytes]]:
        async with aiotrio.open_loop(readiness=backend) as loop:
            assert loop.readiness == backend
            result: list[tuple[str, bytes]] = await aiotrio.run_asyncio(script)
            return result

    for backend in BACKENDS:
        assert trio.run(in_trio, backend) == expected, backend


async def _all_blocked() -> None:
    """From Trio code: return once every Trio task (the loop's driver too) waits."""
    with trio.fail_after(20):
        await trio.testing.wait_all_tasks_blocked()


# -- errors: the same as asyncio's --------------------------------------------------


async def _registration_errors() -> list[tuple[str, str, int | None]]:
    """Try bad registrations; report (case, exception type, errno) for each."""
    loop = asyncio.get_running_loop()
    results: list[tuple[str, str, int | None]] = []

    def attempt(case: str, register: Callable[[], object], fd: Any) -> None:
        try:
            register()
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            results.append((case, type(exc).__name__, getattr(exc, "errno", None)))
        else:
            results.append((case, "no error", None))
            loop.remove_reader(fd)
            loop.remove_writer(fd)

    attempt("negative fd", lambda: loop.add_reader(-1, print), -1)
    attempt("not a file", lambda: loop.add_reader("not a file", print), None)
    attempt("negative fd (writer)", lambda: loop.add_writer(-5, print), -5)
    ours, peer = socket.socketpair()
    with peer:
        _, writer = await asyncio.open_unix_connection(sock=ours)
        fd = writer.get_extra_info("socket").fileno()
        attempt("fd of a transport", lambda: loop.add_reader(fd, print), None)
        attempt("fd of a transport (writer)", lambda: loop.add_writer(fd, print), None)
        writer.close()
        await writer.wait_closed()
    return results


def test_bad_registrations_raise_as_asyncio(run_aio: Callable[..., Any]) -> None:
    expected = run_stock(_registration_errors)
    assert [case[1] for case in expected] == ["ValueError"] * 3 + ["RuntimeError"] * 2
    assert run_aio(_registration_errors) == expected


async def _os_level_registration_errors() -> list[tuple[str, str, int | None]]:
    loop = asyncio.get_running_loop()
    results: list[tuple[str, str, int | None]] = []
    with tempfile.TemporaryFile() as regular_file:
        a, b = socket.socketpair()
        closed_fd = a.fileno()
        a.close()
        b.close()
        for case, fd in (("closed fd", closed_fd), ("regular file", regular_file.fileno())):
            try:
                loop.add_reader(fd, print)
            except OSError as exc:
                results.append((case, type(exc).__name__, exc.errno))
            else:
                results.append((case, "no error", None))
                loop.remove_reader(fd)
    return results


def test_unpollable_fds_raise_as_asyncio(run_aio: Callable[..., Any]) -> None:
    expected = run_stock(_os_level_registration_errors)
    assert expected == [
        ("closed fd", "OSError", errno.EBADF),
        ("regular file", "PermissionError", errno.EPERM),
    ]
    assert run_aio(_os_level_registration_errors) == expected


def test_readiness_methods_refuse_a_closed_loop() -> None:
    loop = aiotrio.new_event_loop()
    loop.close()
    a, b = socket.socketpair()
    with a, b:
        for register in (loop.add_reader, loop.add_writer):
            with pytest.raises(RuntimeError, match="Event loop is closed"):
                register(a, print)


# -- closing registered fds never hangs -----------------------------------------------


def test_closing_a_registered_socket_keeps_the_loop_serving(run_aio: Callable[..., Any]) -> None:
    """The fd is closed without remove_reader/remove_writer (a common bug): nothing hangs.

    (Removing it afterwards raises on the stock loop, so that is not part of the contract.)
    """

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        # Made first, so they do not reuse a's number (a stale registration would
        # swallow that: asyncio's selector only updates its bookkeeping then).
        c, d = socket.socketpair()
        c.setblocking(False)
        writable = asyncio.Event()
        loop.add_reader(a, lambda: None)
        loop.add_writer(a, writable.set)
        for _ in range(3):  # watched for a few polls (the writer runs at each)
            writable.clear()
            await asyncio.wait_for(writable.wait(), 20)
        a.close()
        b.close()
        await settle()  # every poll with the fd gone that will happen has happened
        with c, d:
            got = loop.create_future()
            loop.add_reader(c, lambda: got.done() or got.set_result(c.recv(20)))
            loop.call_later(0.01, d.send, b"still alive")
            data = await asyncio.wait_for(got, 20)
            loop.remove_reader(c)
        return data

    assert run_aio(main) == b"still alive"


def test_remove_then_close_then_reuse_the_fd_number(run_aio: Callable[..., Any]) -> None:
    """The correct order: a new socket with the same fd number is watched afresh."""

    async def main() -> tuple[bool, bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        fd = a.fileno()
        loop.add_reader(a, print, "never called")
        await settle()  # the loop has waited on it
        assert loop.remove_reader(a)
        a.close()
        b.close()
        c, d = socket.socketpair()
        c.setblocking(False)
        with c, d:
            got = loop.create_future()
            loop.add_reader(c, lambda: got.done() or got.set_result(c.recv(10)))
            loop.call_later(0.01, d.send, b"new")
            data = await asyncio.wait_for(got, 20)
            loop.remove_reader(c)
            return c.fileno() == fd, data

    assert run_aio(main) == (True, b"new")


def test_closing_fds_inside_their_callbacks(run_aio: Callable[..., Any]) -> None:
    """Readers close their own and each other's fds mid-batch."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(6)]
        closed: list[int] = []

        def on_readable(i: int) -> None:
            for j in (i, (i + 1) % len(pairs)):
                a = pairs[j][0]
                if a.fileno() != -1:
                    loop.remove_reader(a)
                    a.close()
                    closed.append(j)

        for i, (a, b) in enumerate(pairs):
            a.setblocking(False)
            loop.add_reader(a, on_readable, i)
            b.send(b"x")
        await settle()
        for _, b in pairs:
            b.close()
        return sorted(closed)

    assert run_aio(main) == list(range(6))


def test_loop_shuts_down_with_closed_fds_still_registered(hosting: str) -> None:
    """Leaving open_loop()/closing the loop with stale registrations does not hang."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        writable = asyncio.Event()
        loop.add_reader(a, print)
        loop.add_writer(b, writable.set)
        await asyncio.wait_for(writable.wait(), 20)  # the loop has polled them
        a.close()
        b.close()
        await settle()
        return "done"

    # A hang here is caught by pytest-timeout.
    assert run_in_mode(hosting, main) == "done"


@pytest.mark.xfail(
    READINESS == "trio",
    strict=True,
    reason="limitation of the per-fd backend: Trio cannot learn that an fd it waits on was "
    "closed without remove_reader (tests/io/FINDINGS.md IO2)",
)
def test_trio_can_reuse_the_number_of_a_closed_registered_fd() -> None:
    """asyncio code closes a registered fd without remove_reader; Trio code reuses the number."""

    async def main() -> bytes:
        async with aiotrio.open_loop() as loop:
            a, b = socket.socketpair()
            fd = a.fileno()
            loop.add_reader(fd, print, "never called")
            await _all_blocked()  # the loop waits on the fd
            a.close()
            b.close()
            await _all_blocked()
            c, d = trio.socket.socketpair()
            with c, d:
                assert fd in (c.fileno(), d.fileno())
                waiter, sender = (c, d) if c.fileno() == fd else (d, c)
                got: list[bytes] = []

                async def receive() -> None:
                    got.append(await waiter.recv(10))

                with trio.fail_after(20):
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(receive)
                        await _all_blocked()  # receive() is waiting on the reused fd
                        await sender.send(b"trio")
            loop.remove_reader(fd)
            return got[0]

    assert trio.run(main) == b"trio"


# -- driven by Trio -------------------------------------------------------------------


def test_trio_task_wakes_a_parked_loop_through_an_fd() -> None:
    """The loop waits for I/O in Trio: a Trio task's write makes the asyncio reader run."""

    async def main() -> tuple[bytes, int]:
        async with aiotrio.open_loop() as loop:
            a, b = socket.socketpair()
            a.setblocking(False)
            with a, b:
                got = trio.Event()
                data: list[bytes] = []

                def on_readable() -> None:
                    data.append(a.recv(10))
                    loop.remove_reader(a)
                    got.set()

                loop.add_reader(a, on_readable)
                ticks = 0
                for _ in range(5):  # Trio keeps running while the loop is parked on the fd
                    await trio.sleep(0.01)
                    ticks += 1
                assert not data
                b.send(b"from trio")
                with trio.fail_after(20):
                    await got.wait()
                return data[0], ticks

    assert trio.run(main) == (b"from trio", 5)


def test_environment_picks_the_backend() -> None:
    loop = aiotrio.new_event_loop()
    try:
        assert loop.readiness == READINESS
    finally:
        loop.close()
    for backend in BACKENDS:
        loop = aiotrio.EventLoop(readiness=backend)
        try:
            assert loop.readiness == backend
        finally:
            loop.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipe_fds_work_on_each_backend(backend: str) -> None:
    """Readers and writers on plain pipe fds (not sockets), on an explicitly chosen backend."""

    async def main() -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        os.set_blocking(r, False)
        try:
            got = loop.create_future()
            writable = loop.create_future()
            loop.add_reader(r, lambda: got.done() or got.set_result(os.read(r, 10)))
            loop.add_writer(w, lambda: writable.done() or writable.set_result(True))
            ok = await asyncio.wait_for(writable, 20)
            loop.remove_writer(w)
            os.write(w, b"pipe")
            data = await asyncio.wait_for(got, 20)
            loop.remove_reader(r)
            return data, ok
        finally:
            os.close(r)
            os.close(w)

    with asyncio.Runner(loop_factory=lambda: aiotrio.new_event_loop(readiness=backend)) as runner:
        assert runner.run(main()) == (b"pipe", True)


def test_a_short_run_sees_io_that_is_already_ready() -> None:
    """Each iteration's select(0) sees every ready fd: even run_until_complete(sleep(0)) does."""
    loop = aiotrio.new_event_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        seen: list[bytes] = []
        loop.add_reader(a, lambda: seen.append(a.recv(10)))
        loop.run_until_complete(settle())  # registered and watched
        b.send(b"ready")
        loop.run_until_complete(asyncio.sleep(0))
        assert seen == [b"ready"]  # as on the stock loop
    finally:
        loop.remove_reader(a)
        a.close()
        b.close()
        loop.close()


def _outcome(call: Callable[[], object]) -> str:
    try:
        result = call()
    except Exception as exc:  # the type is what is compared
        return type(exc).__name__
    return "ok" if not isinstance(result, selectors.SelectorKey) else f"key {result.events}"


def test_trio_selector_keeps_the_selectors_contract() -> None:
    """The trio backend's selector raises what ``selectors`` raises, case by case."""
    from aiotrio._trio_readiness import TrioWaitSelector  # noqa: PLC0415 (the unit itself)

    a, b = socket.socketpair()
    closed = socket.socket()
    closed.close()
    results: dict[str, list[str]] = {}
    try:
        for name, make in (("stock", selectors.DefaultSelector), ("trio", TrioWaitSelector)):
            selector = make()
            try:
                results[name] = [
                    _outcome(lambda s=selector: s.register(a, 0)),
                    _outcome(lambda s=selector: s.register(a, 8)),
                    _outcome(lambda s=selector: s.register(object(), selectors.EVENT_READ)),
                    _outcome(lambda s=selector: s.register(-1, selectors.EVENT_READ)),
                    _outcome(lambda s=selector: s.register(a, selectors.EVENT_READ)),
                    _outcome(lambda s=selector: s.register(a.fileno(), selectors.EVENT_READ)),
                    _outcome(lambda s=selector: s.modify(b, selectors.EVENT_READ)),
                    _outcome(lambda s=selector: s.modify(a, selectors.EVENT_WRITE)),
                    _outcome(lambda s=selector: s.modify(a, selectors.EVENT_WRITE)),
                    _outcome(lambda s=selector: s.unregister(b)),
                    str(len(selector.get_map())),
                    str(a in selector.get_map() and a.fileno() in selector.get_map()),
                    _outcome(lambda s=selector: s.get_map()[b]),
                    str(list(selector.get_map()) == [a.fileno()]),
                    _outcome(lambda s=selector: s.unregister(a)),
                    _outcome(lambda s=selector: s.unregister(closed)),
                ]
            finally:
                selector.close()
    finally:
        a.close()
        b.close()
    assert results["trio"] == results["stock"], results
