"""Subprocesses: exec/shell, pipes, communicate, signals, many children, no child watchers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio._core import _thread_cache

import aiotrio

from .conftest import settle

if TYPE_CHECKING:
    from collections.abc import Callable

PIPE = asyncio.subprocess.PIPE


def test_exec_with_stdout_pipe(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, int, bool]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('hello from a child')", stdout=PIPE
        )
        assert proc.stdout is not None
        out = await proc.stdout.read()
        code = await proc.wait()
        return out, code, proc.pid > 0

    assert run_aio(main) == (b"hello from a child\n", 0, True)


def test_shell_exit_code_and_stderr(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bytes, int | None]:
        proc = await asyncio.create_subprocess_shell(
            "echo out; echo err >&2; exit 3", stdout=PIPE, stderr=PIPE
        )
        out, err = await proc.communicate()
        return out, err, proc.returncode

    assert run_aio(main) == (b"out\n", b"err\n", 3)


def test_stderr_to_stdout(run_aio: Callable[..., Any]) -> None:
    async def main() -> bytes:
        proc = await asyncio.create_subprocess_shell(
            "echo one; echo two >&2", stdout=PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, err = await proc.communicate()
        assert err is None
        return b"".join(sorted(out.splitlines(keepends=True)))

    assert run_aio(main) == b"one\ntwo\n"


def test_communicate_with_megabytes_both_ways(run_aio: Callable[..., Any]) -> None:
    """stdin and stdout both fill their pipes: communicate must feed and drain concurrently."""
    payload = os.urandom(1 << 20) * 3

    async def main() -> tuple[bool, int | None]:
        proc = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        out, _ = await proc.communicate(payload)
        return out == payload, proc.returncode

    assert run_aio(main) == (True, 0)


def test_interactive_stdin_stdout(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[list[bytes], int]:
        code = "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1], flush=True)"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdin=PIPE, stdout=PIPE
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        replies = []
        for word in (b"abc", b"trio", b"asyncio"):
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()
            replies.append(await proc.stdout.readline())
        proc.stdin.close()
        await proc.stdin.wait_closed()
        # Read to EOF: wait() returns at the exit, possibly before the pipe's EOF is seen.
        assert await proc.stdout.read() == b""
        return replies, await proc.wait()

    assert run_aio(main) == ([b"cba\n", b"oirt\n", b"oicnysa\n"], 0)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("terminate", -signal.SIGTERM),
        ("kill", -signal.SIGKILL),
        ("send_signal", -signal.SIGUSR1),
    ],
)
def test_signalling_a_child(run_aio: Callable[..., Any], how: str, expected: int) -> None:
    async def main() -> tuple[bool, int]:
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        waiting = asyncio.ensure_future(proc.wait())
        await settle()  # wait() is waiting, the child sleeping
        still_running = not waiting.done()
        if how == "send_signal":
            proc.send_signal(signal.SIGUSR1)
        else:
            getattr(proc, how)()
        return still_running, await asyncio.wait_for(waiting, 30)

    assert run_aio(main) == (True, expected)


def test_child_trapping_a_signal_reports_its_own_exit(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, int]:
        proc = await asyncio.create_subprocess_shell(
            "trap 'echo got USR2; exit 7' USR2; echo ready; while :; do sleep 0.01; done",
            stdout=PIPE,
        )
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR2)
        out = await proc.stdout.read()
        return out, await asyncio.wait_for(proc.wait(), 30)

    assert run_aio(main) == (b"got USR2\n", 7)


def test_wait_timeout_then_kill(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, int]:
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        try:
            await asyncio.wait_for(proc.wait(), 0.05)
        except TimeoutError:
            timed_out = True
        else:
            timed_out = False
        proc.kill()
        return timed_out, await proc.wait()

    assert run_aio(main) == (True, -signal.SIGKILL)


def test_low_level_subprocess_exec_and_shell(run_aio: Callable[..., Any]) -> None:
    class Child(asyncio.SubprocessProtocol):
        def __init__(self) -> None:
            self.output: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
            self.events: list[str] = []
            self.exited = asyncio.get_running_loop().create_future()
            self.all_lost = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.events.append("made")

        def pipe_data_received(self, fd: int, data: bytes | str) -> None:
            assert isinstance(data, bytes)
            self.output[fd] += data

        def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
            self.events.append(f"pipe {fd} lost")
            if sum(event.startswith("pipe") for event in self.events) == 2:
                self.all_lost.set_result(None)

        def process_exited(self) -> None:
            self.events.append("exited")
            self.exited.set_result(None)

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        results: list[object] = []
        for start in (
            lambda: loop.subprocess_exec(Child, "sh", "-c", "echo o; printf e >&2", stdin=None),
            lambda: loop.subprocess_shell(Child, "printf o; printf e >&2", stdin=None),
        ):
            transport, child = await start()
            await asyncio.wait_for(child.exited, 30)
            await asyncio.wait_for(child.all_lost, 30)  # they may close after the exit is seen
            results.append(
                (
                    bytes(child.output[1]).strip(),
                    bytes(child.output[2]),
                    transport.get_returncode(),
                    transport.get_pid() > 0,
                    transport.get_pipe_transport(0),
                    sorted(child.events),
                )
            )
            transport.close()
        return results

    expected = (b"o", b"e", 0, True, None, ["exited", "made", "pipe 1 lost", "pipe 2 lost"])
    assert run_aio(main) == [expected, expected]


def test_fifty_concurrent_children(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[tuple[bytes, int]]:
        async def child(i: int) -> tuple[bytes, int]:
            proc = await asyncio.create_subprocess_exec(
                "sh", "-c", f"sleep 0.0{i % 10}; echo {i}; exit {i % 7}", stdout=PIPE
            )
            out, _ = await proc.communicate()
            assert proc.returncode is not None
            return out, proc.returncode

        return list(await asyncio.gather(*(child(i) for i in range(50))))

    assert run_aio(main) == [(f"{i}\n".encode(), i % 7) for i in range(50)]


def test_exits_are_noticed_without_child_watchers(
    run_aio: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio's child watchers (deprecated in 3.12, gone in 3.14) are never consulted."""
    if sys.version_info >= (3, 14):
        assert not hasattr(asyncio, "get_child_watcher")
        assert not hasattr(asyncio, "ThreadedChildWatcher")
    else:

        def no_watchers(*args: object) -> None:
            raise AssertionError("aiotrio asked for a child watcher")

        monkeypatch.setattr(asyncio.events, "get_child_watcher", no_watchers)

    async def main() -> list[int | None]:
        codes: list[int | None] = []
        for code in (0, 5):
            proc = await asyncio.create_subprocess_exec("sh", "-c", f"exit {code}")
            codes.append(await asyncio.wait_for(proc.wait(), 30))
        return codes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_aio(main) == [0, 5]
    assert [w for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_missing_program(run_aio: Callable[..., Any]) -> None:
    async def main() -> str:
        try:
            await asyncio.create_subprocess_exec("/nonexistent/aiotrio-program")
        except FileNotFoundError:
            return "not found"
        return "started"

    assert run_aio(main) == "not found"


def test_asyncio_and_trio_children_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio's children (pidfds in the loop) and Trio's (trio.run_process) reap their own."""
    # trio.run_process starts children from Trio's worker threads, which idle for 10 s
    # before exiting; let them go at once so the leak check sees no threads left.
    monkeypatch.setattr(_thread_cache, "IDLE_TIMEOUT", 0.01)

    async def asyncio_children() -> list[int]:
        procs = [
            await asyncio.create_subprocess_exec("sh", "-c", f"sleep 0.05; exit {i}")
            for i in range(1, 6)
        ]
        return [await proc.wait() for proc in procs]

    async def main() -> tuple[list[int], list[int]]:
        trio_codes: list[int] = []

        async def trio_child(i: int) -> None:
            result = await trio.run_process(["sh", "-c", f"sleep 0.05; exit {i}"], check=False)
            trio_codes.append(result.returncode)

        async with aiotrio.open_loop(), trio.open_nursery() as nursery:
            for i in range(11, 16):
                nursery.start_soon(trio_child, i)
            aio_codes = await aiotrio.run_asyncio(asyncio_children)
        return aio_codes, sorted(trio_codes)

    assert trio.run(main) == ([1, 2, 3, 4, 5], [11, 12, 13, 14, 15])


# -- how exits are noticed: a pidfd in the loop, or a thread per child ---------------------


@pytest.fixture(params=["pidfd", "thread", "thread-without-waitid"])
def exit_watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way the loop can learn that a child exited, forced by hiding what it needs.

    ``thread``: no ``os.pidfd_open`` (older kernels, other Unixes): a thread waits for each
    child and the loop reaps it. ``thread-without-waitid``: neither (macOS): the thread reaps.
    """
    way: str = request.param
    if way != "pidfd":
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    if way == "thread-without-waitid":
        monkeypatch.delattr(os, "waitid", raising=False)
    return way


def test_exit_codes_and_signals_whatever_the_exit_watch(
    run_aio: Callable[..., Any], exit_watch: str
) -> None:
    async def main() -> tuple[bytes, int, int, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('out'); raise SystemExit(4)", stdout=PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        sleeper = await asyncio.create_subprocess_exec("sleep", "30")
        sleeper.terminate()
        killed = await asyncio.create_subprocess_exec("sleep", "30")
        killed.kill()
        return out, proc.returncode, await sleeper.wait(), await killed.wait()

    assert run_aio(main) == (b"out\n", 4, -signal.SIGTERM, -signal.SIGKILL)


_waitid = os.waitid  # the exit_watch fixture may hide os.waitid from aiotrio


async def _child_exited_unreaped() -> asyncio.subprocess.Process:
    """A child that has exited, and a loop that cannot have noticed it yet.

    The child exits when its pipe's write end closes; waiting for that without reaping
    blocks the loop, so the exit is known here before the loop hears of it.
    """
    read_end, write_end = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"import os; os.read({read_end}, 1); raise SystemExit(3)",
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)
    os.close(write_end)
    _waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    return proc


# Without waitid the waiting thread reaps the child itself, at once: nothing is left to race.
@pytest.mark.parametrize("exit_watch", ["pidfd", "thread"], indirect=True)
def test_kill_after_the_exit_keeps_the_exit_status(
    run_aio: Callable[..., Any], exit_watch: str
) -> None:
    """A kill() between the child's exit and the loop noticing it: wait() gives the real code.

    ``Popen.send_signal`` polls first and so reaps the child itself (3.11/3.12 then lost
    the status and reported 255).
    """

    async def main() -> int:
        proc = await _child_exited_unreaped()
        proc.kill()
        return await asyncio.wait_for(proc.wait(), 30)

    assert run_aio(main) == 3


@pytest.mark.parametrize("exit_watch", ["pidfd", "thread"], indirect=True)
def test_a_child_reaped_by_someone_else_reports_255(
    run_aio: Callable[..., Any], exit_watch: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As asyncio does: the status is gone, so wait() gives 255 and a warning is logged."""

    async def main() -> int:
        proc = await _child_exited_unreaped()
        os.waitpid(proc.pid, 0)  # takes the status away from the loop
        return await asyncio.wait_for(proc.wait(), 30)

    with caplog.at_level("WARNING", logger="asyncio"):
        assert run_aio(main) == 255
    assert "exit status already read" in caplog.text


def _wait_until_reaped(pid: int) -> None:
    """Wait (30 s at most) until `pid` is gone from the process table: reaped, not a zombie.

    Polls: the reaper is a thread of the closed loop, with nothing to wait on from here.
    """
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}"):
        if time.monotonic() > deadline:
            with open(f"/proc/{pid}/stat") as stat:
                pytest.fail(f"child {pid} still in the process table: {stat.read()}")
        time.sleep(0.005)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_child_still_running_at_close_is_reaped_when_it_exits(
    run_aio: Callable[..., Any], exit_watch: str
) -> None:
    """The loop closes first, the child exits later: no zombie is left (asyncio 3.14 reaps it)."""
    read_end, write_end = os.pipe()

    async def main() -> asyncio.SubprocessTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            asyncio.SubprocessProtocol,
            sys.executable,
            "-c",
            f"import os; os.read({read_end}, 1)",  # exits once we close the write end
            stdin=None,
            stdout=None,
            stderr=None,
            pass_fds=(read_end,),
        )
        return transport

    try:
        transport = run_aio(main)
        os.close(read_end)
        pid = transport.get_pid()
        assert os.path.exists(f"/proc/{pid}")  # still running: the loop is closed already
    finally:
        os.close(write_end)
    _wait_until_reaped(pid)
    transport.close()  # no kill: the child is gone
