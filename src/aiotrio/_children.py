"""Noticing that child processes exited, without asyncio's child watchers.

asyncio 3.11-3.13 finds out through a process-wide child watcher owned by the
event loop policy (deprecated in 3.12, removed in 3.14). aiotrio waits per
child instead: on Linux a pidfd registered with the loop's own readiness
backend (so an exit is one more fd event in a batch), elsewhere a thread that
blocks in ``waitpid`` for that one child and hands the result back with
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._loop import EventLoop

logger = logging.getLogger("asyncio")

# A status we could not read (someone else reaped the child) is reported as
# 255, as asyncio does.
_UNKNOWN_RETURNCODE = 255


def _reap(pid: int) -> int:
    """Wait for `pid` (which has exited or is about to) and return its exit code."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        logger.warning(
            "child process pid %d exit status already read: will report returncode 255", pid
        )
        return _UNKNOWN_RETURNCODE
    return os.waitstatus_to_exitcode(status)


def watch_child(loop: EventLoop, pid: int, transport: Any) -> None:
    """Call ``transport._process_exited(returncode)`` on `loop` once `pid` exits."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        _watch_with_thread(loop, pid, transport)
        return
    loop._trio.child_pidfds[pidfd] = pid
    loop._add_reader(pidfd, _on_pidfd_readable, loop, pid, pidfd, transport)


def _on_pidfd_readable(loop: EventLoop, pid: int, pidfd: int, transport: Any) -> None:
    _forget_pidfd(loop, pidfd)
    transport._process_exited(_reap(pid))


def _forget_pidfd(loop: EventLoop, pidfd: int) -> None:
    del loop._trio.child_pidfds[pidfd]
    loop._remove_reader(pidfd)
    os.close(pidfd)


def stop_watching_children(loop: EventLoop) -> None:
    """The loop is closing: close the pidfds of children still running.

    They are not reaped (that would block); as with asyncio, closing their
    transports first is what ends them.
    """
    for pidfd in list(loop._trio.child_pidfds):
        _forget_pidfd(loop, pidfd)


def _watch_with_thread(loop: EventLoop, pid: int, transport: Any) -> None:
    def wait() -> None:
        # Wait without reaping, and reap on the loop: until the loop has
        # published the exit, the pid must stay ours (a send_signal() in
        # between must not reach a new process that reused it; gh-127049).
        waitid = getattr(os, "waitid", None)
        if waitid is None:
            returncode = _reap(pid)
            if not loop.is_closed():
                loop.call_soon_threadsafe(transport._process_exited, returncode)
            return
        with contextlib.suppress(ChildProcessError):  # reaped elsewhere: _reap says so
            waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        if not loop.is_closed():
            loop.call_soon_threadsafe(_reap_and_publish, pid, transport)

    threading.Thread(target=wait, name=f"aiotrio-waitpid-{pid}", daemon=True).start()


def _reap_and_publish(pid: int, transport: Any) -> None:
    transport._process_exited(_reap(pid))


def installed_child_watcher() -> Any:
    """The child watcher a program installed through asyncio's policy (3.11-3.13), or None.

    Such a watcher may reap every child itself (SafeChildWatcher,
    FastChildWatcher), so a loop has to go through it, as asyncio's does.
    """
    if sys.version_info >= (3, 14):
        return None  # child watchers are gone
    return getattr(asyncio.get_event_loop_policy(), "_watcher", None)
