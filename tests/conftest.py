"""Shared fixtures: run asyncio code on aiotrio in both hosting modes, check for leaks."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import pytest

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

#: The readiness backend under test; CI runs the whole suite once per backend.
READINESS = os.environ.get("AIOTRIO_READINESS") or "selector"

HOSTING_MODES = ["open_loop", "loop_factory"]


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C back to a suite started in the background by a script.

    A shell without job control starts background jobs (`tools/unit.sh` runs two suites at
    once) with SIGINT ignored, and every child inherits that: the tests that interrupt a child
    Python would then wait for a KeyboardInterrupt that never comes.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_in_mode(mode: str, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run asyncio-flavored ``async_fn(*args)`` to completion on a new aiotrio loop.

    ``open_loop``: inside ``aiotrio.run`` (a Trio program) through ``run_asyncio``.
    ``loop_factory``: through ``asyncio.Runner(loop_factory=aiotrio.new_event_loop)``,
    as an unmodified asyncio program would be.
    """
    if mode == "open_loop":
        return aiotrio.run(aiotrio.run_asyncio, async_fn, *args)
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        return runner.run(async_fn(*args))


@pytest.fixture(params=HOSTING_MODES)
def hosting(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture
def run_aio(hosting: str) -> Callable[..., Any]:
    """``run_aio(async_fn, *args)`` runs asyncio code on aiotrio in each hosting mode."""

    def run(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return run_in_mode(hosting, async_fn, *args)

    return run


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or file descriptors behind."""
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    gc.collect()
    leaked_threads = [
        thread
        for thread in threading.enumerate()
        if thread not in threads_before and thread.is_alive()
    ]
    for thread in leaked_threads:
        thread.join(timeout=2)
    leaked_threads = [thread for thread in leaked_threads if thread.is_alive()]
    assert not leaked_threads, f"threads leaked: {leaked_threads}"
    leaked_fds = _open_fds() - fds_before
    # The descriptor set moves while listing /proc/self/fd; check the rest exist.
    leaked_fds = {fd for fd in leaked_fds if _fd_is_open(fd)}
    assert not leaked_fds, f"file descriptors leaked: {_describe_fds(leaked_fds)}"


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _describe_fds(fds: set[int]) -> dict[int, str]:
    described = {}
    for fd in sorted(fds):
        try:
            described[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            described[fd] = "?"
    return described


def run_and_interrupt(
    code: str, *args: str, ready: str = "READY", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter; once it prints the line `ready`, send it SIGINT.

    The child runs on the readiness backend under test, starts with Python's own
    SIGINT handler (the session restores it, see above), and is killed if it has not
    ended `timeout` seconds after the signal. stdout holds every line.
    """
    env = dict(os.environ, AIOTRIO_READINESS=READINESS, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    before = ""
    try:
        while (line := proc.stdout.readline()).strip() != ready:
            assert line, (before, proc.stderr.read() if proc.stderr else "")
            before += line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, before + line + out, err)


async def sleep_until_cancelled(unwound: list[str], note: str = "cancelled") -> None:
    """An asyncio task body that waits an hour and appends `note` to `unwound` when cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        unwound.append(note)
        raise


def run_python_code(
    code: str, *, argv: Sequence[str] = (), timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `code` with `argv` in a fresh interpreter (killed after `timeout` seconds); its
    output as text."""
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
