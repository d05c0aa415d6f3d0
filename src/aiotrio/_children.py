"""Noticing that child processes exited, without asyncio's child watchers.

asyncio 3.11-3.13 finds out through a process-wide child watcher owned by the
event loop policy (deprecated in 3.12, removed in 3.14). aiotrio waits per
child instead: on Linux a pidfd registered with the loop's own readiness
backend (so an exit is one more fd event in a batch), elsewhere a thread that
blocks in ``waitpid`` for that one child and hands the result back with
``call_soon_threadsafe``.
"""

from __future__ import annotations

import logging
import os
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
        returncode = _reap(pid)
        if not loop.is_closed():
            loop.call_soon_threadsafe(transport._process_exited, returncode)

    threading.Thread(target=wait, name=f"aiotrio-waitpid-{pid}", daemon=True).start()
