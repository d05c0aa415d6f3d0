"""Switching the current thread into a loop's asyncio world and back.

Trio and asyncio share one thread. While the driver runs asyncio callbacks the
thread must look like a running asyncio loop: ``asyncio.get_running_loop()``
returns the loop, sniffio says "asyncio", and async generators first iterated
there belong to the loop. Between batches the thread must look like Trio again.
"""

from __future__ import annotations

import sys
from asyncio import events as _events
from typing import TYPE_CHECKING, Any, TypeAlias

import sniffio

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

_sniffio_local = sniffio.thread_local
_get_asyncgen_hooks = sys.get_asyncgen_hooks
_set_asyncgen_hooks = sys.set_asyncgen_hooks


#: What `AsyncioContext.enter` replaced, so `leave` can put it back: the
#: running loop, sniffio's library name and the async generator hooks (a
#: plain tuple: a batch makes one, and a named tuple costs a Python frame).
SavedThreadState: TypeAlias = "tuple[asyncio.AbstractEventLoop | None, str | None, Any]"


class AsyncioContext:
    """Enters and leaves one loop's asyncio world on the current thread.

    `enter()` returns the state it replaced; pass it to `leave()`. Calls may
    nest (each `leave` restores exactly what its `enter` saw), so a loop can be
    entered while another loop, or Trio, owned the thread.
    """

    __slots__ = ("_finalizer", "_firstiter", "_loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        firstiter: Callable[[Any], None],
        finalizer: Callable[[Any], None],
    ) -> None:
        self._loop = loop
        self._firstiter = firstiter
        self._finalizer = finalizer

    def enter(self) -> SavedThreadState:
        # asyncio.events' functions looked up at each call (no Python frame of
        # ours on every batch's path), not bound at import: a program may swap
        # in the pure-Python versions (CPython's TestPyGetEventLoop does).
        saved = (_events._get_running_loop(), _sniffio_local.name, _get_asyncgen_hooks())
        _events._set_running_loop(self._loop)
        _sniffio_local.name = "asyncio"
        _set_asyncgen_hooks(self._firstiter, self._finalizer)
        return saved

    @staticmethod
    def leave(saved: SavedThreadState) -> None:
        running_loop, async_library, asyncgen_hooks = saved
        _set_asyncgen_hooks(*asyncgen_hooks)
        _sniffio_local.name = async_library
        _events._set_running_loop(running_loop)
