"""`ChildWatcher`: noticing that a loop's child processes exited, without asyncio's watchers.

asyncio 3.11-3.13 finds out through a process-wide child watcher owned by the
event loop policy (deprecated in 3.12, removed in 3.14). aiotrio waits per
child instead: on Linux a pidfd registered with the loop's own readiness
backend (so an exit is one more fd event in a batch), elsewhere a thread that
waits for that one child and hands the exit back with
``call_soon_threadsafe``. A child still running when the loop closes is
reaped by a thread once it exits, as asyncio 3.14 does, so none is left a
zombie.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._loop import EventLoop

logger = logging.getLogger("asyncio")

# A status we could not read (someone else reaped the child) is reported as
# 255, as asyncio does.
_UNKNOWN_RETURNCODE = 255


def _reap(pid: int, transport: Any) -> int:
    """Wait for `pid` (which has exited or is about to) and return its exit code."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        # 3.11/3.12: Popen.send_signal() polls first, so a kill() between the
        # exit and our waitpid() reaped the child and kept its status there.
        popen = getattr(transport, "_proc", None)
        returncode = getattr(popen, "returncode", None)
        if returncode is not None:
            return int(returncode)
        logger.warning(
            "child process pid %d exit status already read: will report returncode 255", pid
        )
        return _UNKNOWN_RETURNCODE
    return os.waitstatus_to_exitcode(status)


def _reap_when_exited(pid: int) -> None:
    """Block until `pid` exits and reap it (a thread's body, after the loop closed)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class ChildWatcher:
    """The child processes one loop waits for (see the module docstring).

    Contract: `watch` calls ``transport._process_exited(returncode)`` on the
    loop once `pid` exits, with its real exit code; `close` (at loop close)
    stops watching and leaves every child that is still running to a thread
    that reaps it when it exits.
    """

    __slots__ = ("_loop", "_pidfds")

    def __init__(self, loop: EventLoop) -> None:
        self._loop = loop
        # pidfd -> pid of each child process waited for through a pidfd.
        self._pidfds: dict[int, int] = {}

    def watch(self, pid: int, transport: Any) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._watch_with_thread(pid, transport)
            return
        self._pidfds[pidfd] = pid
        self._loop._add_reader(pidfd, self._on_pidfd_readable, pid, pidfd, transport)

    def close(self) -> None:
        """The loop is closing: hand children still running to reaper threads."""
        for pidfd, pid in list(self._pidfds.items()):
            self._forget_pidfd(pidfd)
            _start_thread(pid, _reap_when_exited, pid)

    def _on_pidfd_readable(self, pid: int, pidfd: int, transport: Any) -> None:
        self._forget_pidfd(pidfd)
        transport._process_exited(_reap(pid, transport))

    def _forget_pidfd(self, pidfd: int) -> None:
        del self._pidfds[pidfd]
        self._loop._remove_reader(pidfd)
        os.close(pidfd)

    def _watch_with_thread(self, pid: int, transport: Any) -> None:
        loop = self._loop

        def wait() -> None:
            # Wait without reaping, and reap on the loop: until the loop has
            # published the exit, the pid must stay ours (a send_signal() in
            # between must not reach a new process that reused it; gh-127049).
            waitid = getattr(os, "waitid", None)
            try:
                if waitid is None:  # no way to wait without reaping
                    returncode = _reap(pid, transport)
                    loop.call_soon_threadsafe(transport._process_exited, returncode)
                    return
                with contextlib.suppress(ChildProcessError):  # reaped elsewhere: _reap says so
                    waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                loop.call_soon_threadsafe(_reap_and_publish, pid, transport)
            except RuntimeError:  # the loop closed meanwhile: nobody to tell, but reap
                _reap_when_exited(pid)

        _start_thread(pid, wait)


def _reap_and_publish(pid: int, transport: Any) -> None:
    transport._process_exited(_reap(pid, transport))


def _start_thread(pid: int, target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, name=f"aiotrio-waitpid-{pid}", daemon=True).start()
