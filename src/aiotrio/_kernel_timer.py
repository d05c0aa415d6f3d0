"""`KernelTimer`: the parked driver's timer deadline as an fd in the loop's selector.

A parked driver waits for the selector's own fd to become readable (see
`aiotrio._readiness`). Its next asyncio timer used to be the deadline of the
cancel scope around that wait, so every timer wake-up was a ``trio.Cancelled``
raised and caught, Trio's fd registration undone in the abort, and a new
cancel scope: about 1.8x what Trio's own ``trio.sleep`` wake-up costs. A Linux
``timerfd`` registered in the loop's epoll instead makes the selector fd
readable when the timer is due: the wake-up is an ordinary I/O wake-up, with
no cancellation.

Only for clocks that run in real time (the driver checks; a
``trio.testing.MockClock`` keeps the cancel-scope deadline, which Trio's
autojump sees). The timerfd's events never reach asyncio: it is registered
with the epoll object itself, not through the selector's key map, so
``select()`` skips it; ``EPOLLONESHOT`` reports an expiry once, and `set`
re-arms it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import selectors
import sys
from typing import Any

# Whole seconds a timerfd accepts without overflow; beyond it "never".
_MAX_SECONDS = 1e9
# A timerfd set to 0 is disarmed: a deadline already due fires after 1 us
# (not 1 ns, which float rounding could turn into 0).
_MIN_SECONDS = 1e-6
_CLOCK_MONOTONIC = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class _LibcTimerfd:
    """timerfd through libc (Python < 3.13 has no ``os.timerfd_*``)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._create = libc.timerfd_create
        self._create.argtypes = (ctypes.c_int, ctypes.c_int)
        self._create.restype = ctypes.c_int
        self._settime = libc.timerfd_settime
        self._settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
        self._settime.restype = ctypes.c_int
        self._spec = _Itimerspec()
        self._value = self._spec.it_value
        self._spec_ref = ctypes.byref(self._spec)

    def create(self) -> int:
        # TFD_NONBLOCK/TFD_CLOEXEC are O_NONBLOCK/O_CLOEXEC on every architecture.
        fd: int = self._create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        return fd

    def settime(self, fd: int, seconds: float) -> None:
        whole = int(seconds)
        value = self._value
        value.tv_sec = whole
        value.tv_nsec = min(round((seconds - whole) * 1e9), 999_999_999)
        if self._settime(fd, 0, self._spec_ref, None) < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))


class _OsTimerfd:
    """timerfd through ``os`` (Python >= 3.13)."""

    def __init__(self) -> None:
        # Typed as Any: the type checkers may be looking at an older os.
        posix: Any = os
        self._create: Any = posix.timerfd_create
        self._flags: int = posix.TFD_NONBLOCK | posix.TFD_CLOEXEC
        self._settime: Any = posix.timerfd_settime

    def create(self) -> int:
        fd: int = self._create(_CLOCK_MONOTONIC, flags=self._flags)
        return fd

    def settime(self, fd: int, seconds: float) -> None:
        self._settime(fd, initial=seconds)


class KernelTimer:
    """One timerfd in an epoll selector: the selector's fd turns readable at a deadline.

    `set` takes a deadline on some clock and that clock's current time (so any
    clock running at real speed works); `clear` disarms. `close` closes the fd.
    """

    def __init__(self, epoll: Any, api: _LibcTimerfd | _OsTimerfd) -> None:
        self._api = api
        self._epoll = epoll
        self._fd = api.create()
        try:
            epoll.register(self._fd, select.EPOLLIN | select.EPOLLONESHOT)
        except BaseException:
            os.close(self._fd)
            raise
        #: The deadline armed now, or None (disarmed, or fired).
        self.deadline: float | None = None

    def set(self, deadline: float, now: float) -> None:
        """Make the selector fd readable once `deadline` (on `now`'s clock) has passed."""
        seconds = deadline - now
        if seconds > _MAX_SECONDS:
            self.clear()
            return
        self._api.settime(self._fd, seconds if seconds > _MIN_SECONDS else _MIN_SECONDS)
        # Setting the time resets the expiry count; re-arming the one-shot
        # registration lets the next expiry be reported.
        self._epoll.modify(self._fd, select.EPOLLIN | select.EPOLLONESHOT)
        self.deadline = deadline

    def clear(self) -> None:
        """Disarm (a pending expiry is dropped too)."""
        if self.deadline is not None:
            self._api.settime(self._fd, 0.0)
            self.deadline = None

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            # The selector may have been closed first.
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)
            os.close(fd)


def _api() -> _LibcTimerfd | _OsTimerfd | None:
    if not sys.platform.startswith("linux"):
        return None
    if hasattr(os, "timerfd_create"):
        return _OsTimerfd()
    try:
        return _LibcTimerfd()
    except (OSError, AttributeError):
        return None


_API = _api()


def make_kernel_timer(selector: selectors.BaseSelector) -> KernelTimer | None:
    """A timer in `selector`, or None where this platform or selector has none."""
    epoll = getattr(selector, "_selector", None)
    if _API is None or not isinstance(selector, selectors.EpollSelector):
        return None
    if not hasattr(select, "epoll") or not isinstance(epoll, select.epoll):
        return None
    try:
        return KernelTimer(epoll, _API)
    except OSError:
        return None
