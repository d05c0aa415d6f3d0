"""A process forked inside a Trio run must not believe it is still in one."""

from __future__ import annotations

import contextlib
import os
import signal

import sniffio

_registered: list[bool] = []  # not empty once the hook is registered


def forget_trio_run_in_forked_children() -> None:
    """Make sure (once) that a forked child starts outside any Trio run.

    asyncio resets its running-loop state in a forked child; Trio keeps its
    per-thread run state, so a child forked from inside a running loop (a
    "fork" multiprocessing pool started by asyncio code, say) could never run
    Trio, or an aiotrio loop, again: ``trio.run`` would call itself nested.
    Registered on first use of a loop, not at import.
    """
    if not _registered:
        os.register_at_fork(after_in_child=_forget_trio_run)
        _registered.append(True)


def _forget_trio_run() -> None:
    # Trio's private run state (what trio.run checks to refuse nesting); the
    # child has only this thread, and none of the parent's run exists in it.
    try:
        from trio._core import _run  # noqa: PLC0415 (private, looked up only here)
    except ImportError:  # pragma: no cover - a Trio that moved it
        return
    state = getattr(_run, "GLOBAL_RUN_CONTEXT", None)
    if state is None or not hasattr(state, "runner"):
        return  # not forked from inside a Trio run
    state.__dict__.clear()
    sniffio.thread_local.name = None
    # The parent run's signal plumbing points at its (gone) runner: the wakeup
    # fd a new trio.run would see as a collision, and Trio's Ctrl-C handler.
    with contextlib.suppress(ValueError):  # not the main thread: nothing was set
        signal.set_wakeup_fd(-1)
        handler = signal.getsignal(signal.SIGINT)
        if getattr(handler, "__module__", "").startswith("trio."):
            signal.signal(signal.SIGINT, signal.default_int_handler)
