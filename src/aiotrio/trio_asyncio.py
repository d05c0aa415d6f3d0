"""trio-asyncio 0.16's API on aiotrio: ``import aiotrio.trio_asyncio as trio_asyncio``.

A drop-in for programs written against trio-asyncio (which does not import on
Python 3.14+). Every public name of trio-asyncio 0.16 is here except
``allow_asyncio`` (see docs/how-to/migrating.md for why, and for the few
behaviour differences). The loop is `TrioEventLoop`, an `aiotrio.EventLoop`
with trio-asyncio's extra methods (``run_aio_coroutine``, ``trio_as_future``,
``run_trio_task``, ``synchronize``, ``stop(waiter)``, ``wait_stopped``,
``autoclose``).

Flavors, as trio-asyncio names them: a *Trio-flavored* async function is
awaited from Trio code, an *asyncio-flavored* one from asyncio code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast, overload

import trio

from ._adapters import (
    aio_as_trio,
    asyncio_as_trio,
    trio_as_aio,
    trio_as_asyncio,
)
from ._bridge import run_coroutine_on, start_trio_call, wait_asyncio_future
from ._current import current_loop as _aiotrio_current_loop
from ._loop import EventLoop
from ._open_loop import open_loop_of

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable

    from ._bridges import TrioCallFuture

T = TypeVar("T")
_Ts = TypeVarTuple("_Ts")

__all__ = [
    "BaseTrioEventLoop",
    "TrioAsyncioDeprecationWarning",
    "TrioEventLoop",
    "TrioExecutor",
    "aio_as_trio",
    "asyncio_as_trio",
    "current_loop",
    "open_loop",
    "run",
    "run_aio_coroutine",
    "run_aio_future",
    "run_aio_generator",
    "run_trio",
    "run_trio_task",
    "trio_as_aio",
    "trio_as_asyncio",
]


class TrioAsyncioDeprecationWarning(FutureWarning):
    """trio-asyncio's warning category for deprecated use (kept for ``filterwarnings``)."""


class _CurrentLoop:
    """trio-asyncio's ``current_loop`` context variable, read-only.

    ``current_loop.get()`` is the aiotrio loop of the calling code (see
    `aiotrio.current_loop`), or `default` (None) outside any loop.
    """

    @overload
    def get(self) -> EventLoop | None: ...
    @overload
    def get(self, default: T) -> EventLoop | T: ...
    def get(self, default: Any = None) -> Any:
        """The aiotrio loop of the calling code, or `default` outside any loop."""
        try:
            return _aiotrio_current_loop()
        except RuntimeError:
            return default

    def __repr__(self) -> str:
        return "<aiotrio.trio_asyncio.current_loop>"


current_loop: _CurrentLoop = _CurrentLoop()


def _loop_here() -> EventLoop:
    loop = current_loop.get()
    if loop is None:
        raise RuntimeError(
            "You are not within a trio_asyncio loop: use "
            "`async with aiotrio.trio_asyncio.open_loop()` around this code"
        )
    return loop


async def run_aio_future(future: asyncio.Future[T]) -> T:
    """Wait from Trio for an asyncio future and return (or raise) its outcome.

    A Trio-flavored async function. Cancelling the Trio caller cancels the
    future; the caller sees `trio.Cancelled` if the future then ends
    cancelled, and its outcome otherwise. An `asyncio.CancelledError` that
    Trio did not ask for propagates as is.
    """
    loop = future.get_loop()
    if not isinstance(loop, EventLoop):
        raise RuntimeError(f"run_aio_future() needs a future of an aiotrio loop, not of {loop!r}")
    return await wait_asyncio_future(loop, future)


async def run_aio_coroutine(coro: Awaitable[T]) -> T:
    """Run an asyncio-flavored coroutine (or await a future) on the current loop.

    A Trio-flavored async function; see `BaseTrioEventLoop.run_aio_coroutine`.
    Any aiotrio loop will do, not only a `TrioEventLoop`.
    """
    try:
        loop = _loop_here()
    except RuntimeError:
        _close(coro)
        raise
    return await _run_aio_coroutine(loop, coro)


async def _run_aio_coroutine(loop: EventLoop, coro: Awaitable[T]) -> T:
    try:
        loop._check_closed()
    except RuntimeError:
        _close(coro)
        raise
    if asyncio.isfuture(coro):
        return await wait_asyncio_future(loop, coro)
    return await run_coroutine_on(loop, _awaiting(coro))


def run_aio_generator(loop: EventLoop, async_generator: AsyncIterable[T]) -> AsyncIterator[T]:
    """A Trio-flavored async iterator over an asyncio-flavored one, stepped on `loop`.

    Each step runs as an asyncio task of `loop`; cancelling the Trio caller
    cancels the step.
    """
    return aio_as_trio(async_generator, loop=loop).__aiter__()


def run_trio(proc: Callable[[*_Ts], Awaitable[T]], *args: *_Ts) -> asyncio.Future[T]:
    """Start ``proc(*args)`` as a Trio task of the current loop; return its future.

    A plain function (not a coroutine): see `BaseTrioEventLoop.trio_as_future`.
    Any aiotrio loop will do, not only a `TrioEventLoop`.
    """
    return _trio_as_future(_loop_here(), proc, args)


def _trio_as_future(
    loop: EventLoop, proc: Callable[..., Awaitable[T]], args: tuple[Any, ...]
) -> asyncio.Future[T]:
    loop._check_closed()
    return start_trio_call(loop, proc, args)


def run_trio_task(proc: Callable[[*_Ts], Awaitable[object]], *args: *_Ts) -> None:
    """Start ``proc(*args)`` as a background Trio task of the current loop.

    See `BaseTrioEventLoop.run_trio_task`. Any aiotrio loop will do, not only
    a `TrioEventLoop`.
    """
    _run_trio_task(_loop_here(), proc, args)


def _run_trio_task(
    loop: EventLoop, proc: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
) -> _TrioTaskHandle:
    loop._check_closed()
    call: TrioCallFuture[None] = start_trio_call(loop, _reporting, (loop, proc, args))
    return _TrioTaskHandle(call)


class TrioExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor for ``loop.run_in_executor`` whose jobs run in Trio's worker threads.

    `limiter` (a `trio.CapacityLimiter`) bounds how many jobs run at once; if
    it is None and `max_workers` is given, a new limiter of that size is used;
    with neither, Trio's default limiter. `thread_name_prefix` is accepted
    and unused. Only `BaseTrioEventLoop.run_in_executor` can use it.
    """

    def __init__(
        self,
        limiter: trio.CapacityLimiter | None = None,
        thread_name_prefix: str | None = None,
        max_workers: int | None = None,
    ) -> None:
        # No ThreadPoolExecutor.__init__: Trio owns the threads.
        if limiter is None and max_workers is not None:
            limiter = trio.CapacityLimiter(max_workers)
        self._limiter = limiter
        self._running = True

    async def submit(self, func: Callable[[*_Ts], T], *args: *_Ts) -> T:  # type: ignore[override]
        """Trio-flavored: run ``func(*args)`` in a Trio worker thread and return its result."""
        if not self._running:
            raise RuntimeError("cannot schedule new jobs after the TrioExecutor was shut down")
        return await trio.to_thread.run_sync(func, *args, limiter=self._limiter)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new jobs; running ones belong to their loop and end with it."""
        self._running = False


class _TrioTaskHandle:
    """What `BaseTrioEventLoop.run_trio_task` returns: ``cancel()`` cancels the Trio task."""

    def __init__(self, call: TrioCallFuture[None]) -> None:
        self._call = call

    def cancel(self) -> None:
        """Cancel the Trio task (it exits at its next checkpoint)."""
        self._call.cancel()

    def cancelled(self) -> bool:
        """Whether the Trio task ended because of `cancel`."""
        return self._call.cancelled()


class _CompatState:
    """trio-asyncio's extra state of a loop, one attribute (``loop._compat``).

    One attribute, not several: see `TrioSide` on keeping the loop's own
    attributes few.
    """

    __slots__ = ("autoclose_fds", "default_executor", "in_block", "stop_waiter", "stopped")

    def __init__(self) -> None:
        self.in_block = False
        # Set when stop()'s callback has run, and outside an open_loop() block.
        self.stopped = trio.Event()
        self.stopped.set()
        self.stop_waiter: trio.Event | None = None
        self.autoclose_fds: set[int] = set()
        self.default_executor: TrioExecutor | None = None


def _fd_of(fd: Any) -> int:
    return int(fd.fileno()) if hasattr(fd, "fileno") else int(fd)


class BaseTrioEventLoop(EventLoop):
    """An aiotrio loop with trio-asyncio's methods; `open_loop` makes its subclass `TrioEventLoop`.

    `queue_len` is accepted for compatibility and unused: aiotrio's ready
    queue is asyncio's own, unbounded as in stock asyncio.
    """

    def __init__(self, queue_len: int | None = None, *, readiness: str | None = None) -> None:
        self._compat = _CompatState()
        super().__init__(readiness=readiness)

    # -- calling asyncio from Trio -------------------------------------------------

    @staticmethod
    async def run_aio_future(future: asyncio.Future[T]) -> T:
        """As the module's `run_aio_future`: the future may belong to any aiotrio loop."""
        return await run_aio_future(future)

    async def run_aio_coroutine(self, coro: Awaitable[T]) -> T:
        """Run an asyncio coroutine (or await a future or other awaitable) on this loop.

        A Trio-flavored async function. Cancelling the Trio caller cancels the
        asyncio task; if it then ends cancelled the caller sees
        `trio.Cancelled`, otherwise the task's outcome. Raises RuntimeError
        ("Event loop is closed") on a closed loop, closing `coro`.
        """
        return await _run_aio_coroutine(self, coro)

    # -- calling Trio from asyncio (or from anywhere) ------------------------------

    def trio_as_future(
        self, proc: Callable[[*_Ts], Awaitable[T]], *args: *_Ts
    ) -> asyncio.Future[T]:
        """Start ``proc(*args)`` as a Trio task now; return an asyncio future of its outcome.

        Callable from asyncio code, Trio code or plain functions while the
        loop's block is open. Cancelling the future cancels the Trio task; the
        future ends cancelled if the task ended because of that, and with the
        task's outcome otherwise.
        """
        return _trio_as_future(self, proc, args)

    def run_trio_task(
        self, proc: Callable[[*_Ts], Awaitable[object]], *args: *_Ts
    ) -> _TrioTaskHandle:
        """Start ``proc(*args)`` as a background Trio task of this loop; return a handle.

        ``handle.cancel()`` cancels the task. An exception it raises goes to
        the loop's exception handler (``call_exception_handler``); a
        KeyboardInterrupt or SystemExit ends the ``open_loop()`` block with it.
        The task is cancelled when the block ends.
        """
        return _run_trio_task(self, proc, args)

    async def synchronize(self) -> None:
        """Trio-flavored: wait until every callback scheduled before this call has run."""
        done = trio.Event()
        self.call_soon(done.set)
        await done.wait()

    # -- stopping --------------------------------------------------------------------

    def stop(self, waiter: trio.Event | None = None) -> trio.Event:  # type: ignore[override]
        """Mark the loop stopped once the callbacks scheduled before this call have run.

        Returns `waiter` (or, without one, the same new event on every call
        until then), which is set at that point; ``await loop.stop().wait()``
        waits for it. Unlike trio-asyncio, the loop still runs callbacks after
        it (for asyncio tasks that are still alive) until its ``open_loop()``
        block ends; after a stop, ``close()`` inside the block is allowed.
        """
        state = self._compat
        if waiter is None:
            if state.stop_waiter is None:
                state.stop_waiter = trio.Event()
            waiter = state.stop_waiter
        if state.stopped.is_set() or self.is_closed():
            waiter.set()
        else:
            self.call_soon(self._stopped_by, waiter)
        return waiter

    def _stopped_by(self, waiter: trio.Event) -> None:
        self._compat.stopped.set()
        waiter.set()

    async def wait_stopped(self) -> None:
        """Trio-flavored: wait until `stop` has taken effect or the loop's block has ended."""
        await self._compat.stopped.wait()

    def close(self) -> None:
        """Close the loop; inside its ``open_loop()`` block, only after `stop`.

        Inside the block the loop refuses new work from then on ("Event loop
        is closed") and is really closed when the block ends, after its
        shutdown.
        """
        state = self._compat
        if not state.in_block:
            super().close()
            return
        if not state.stopped.is_set():
            raise RuntimeError(
                "Cannot close a running event loop: call loop.stop() first, or "
                "let its open_loop() block end"
            )
        self._closed = True

    def run_forever(self) -> None:
        """Refused: a trio-asyncio loop runs inside ``open_loop()``."""
        raise RuntimeError(
            "This is not a sync loop: run it with `async with aiotrio.trio_asyncio.open_loop()`, "
            "or use aiotrio.new_event_loop() for a loop that run_forever() drives"
        )

    def run_until_complete(self, future: Any) -> Any:
        """Refused, as `run_forever`."""
        self.run_forever()

    # -- executors and file descriptors ------------------------------------------------

    def set_default_executor(self, executor: Any) -> None:
        """As asyncio's; a `TrioExecutor` runs the default jobs in Trio's threads."""
        super().set_default_executor(executor)
        self._compat.default_executor = executor if isinstance(executor, TrioExecutor) else None

    def run_in_executor(
        self, executor: Any, func: Callable[[*_Ts], T], *args: *_Ts
    ) -> asyncio.Future[T]:
        """As asyncio's; with a `TrioExecutor`, ``func`` runs in a Trio worker thread."""
        if executor is None:
            executor = self._compat.default_executor
        if isinstance(executor, TrioExecutor):
            return _trio_as_future(self, executor.submit, (func, *args))
        return super().run_in_executor(executor, func, *args)

    def autoclose(self, fd: Any) -> None:
        """Close `fd` (a number or an object with ``fileno()``) when the loop's block ends.

        Only if the loop still watches it then (a reader or writer is
        registered): otherwise its owner closed it already, and the number
        may belong to someone else by now.
        """
        self._compat.autoclose_fds.add(_fd_of(fd))

    def no_autoclose(self, fd: Any) -> None:
        """Undo `autoclose`; KeyError if `fd` was not marked."""
        self._compat.autoclose_fds.remove(_fd_of(fd))

    # -- the open_loop() block ---------------------------------------------------------

    def _enter_block(self) -> None:
        state = self._compat
        state.in_block = True
        state.stopped = trio.Event()
        state.stop_waiter = None

    def _leave_block(self) -> list[int]:
        """The block ends: reopen a loop closed early (its shutdown needs it).

        Returns the descriptors to close once the loop is closed.
        """
        state = self._compat
        state.in_block = False
        state.stopped.set()
        if state.stop_waiter is not None:
            state.stop_waiter.set()
        self._closed = False
        watched = self._selector.get_map()
        return [fd for fd in state.autoclose_fds if fd in watched]


class TrioEventLoop(BaseTrioEventLoop):
    """The loop `open_loop` runs (trio-asyncio's class of the same name)."""


def _close(awaitable: object) -> None:
    """Close a coroutine that will never run, so it does not warn "never awaited"."""
    close = getattr(awaitable, "close", None)
    if close is not None and not asyncio.isfuture(awaitable):
        close()


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _split(exc: BaseException, kind: type[BaseException]) -> tuple[Any, Any]:
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)  # (narrowed, members unknown)
        return group.split(kind)
    return (exc, None) if isinstance(exc, kind) else (None, exc)


def _raise(exc: BaseException) -> None:
    raise exc


async def _reporting(
    loop: EventLoop, proc: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
) -> None:
    """Run a `run_trio_task` task: its errors go to the loop, not to a caller."""
    try:
        await proc(*args)
    except BaseException as exc:
        cancelled, rest = _split(exc, trio.Cancelled)
        if rest is not None:
            errors, fatal = _split(rest, Exception)
            if errors is not None:
                loop.call_exception_handler(
                    {
                        "message": f"Exception in Trio task started by run_trio_task({proc!r})",
                        "exception": errors,
                    }
                )
            if fatal is not None:
                # From an asyncio callback, KeyboardInterrupt and SystemExit
                # end the open_loop() block (aiotrio's rule for asyncio code).
                for leaf in _leaves(fatal):
                    loop.call_soon(_raise, leaf)
                    break
        if cancelled is not None:
            raise cancelled from None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)  # (narrowed, members unknown)
        return [leaf for sub in group.exceptions for leaf in _leaves(sub)]
    return [exc]


@asynccontextmanager
async def open_loop(queue_len: int | None = None) -> AsyncGenerator[TrioEventLoop]:
    """A `TrioEventLoop` running for the duration of the block (Trio-flavored).

    As `aiotrio.open_loop`, with trio-asyncio's exception rule: like a Trio
    nursery (``strict_exception_groups``), an exception leaving the block is
    raised wrapped in a `BaseExceptionGroup` (a `trio.Cancelled` is not).
    `queue_len` is accepted and unused.
    """
    close_fds: list[int] = []
    try:
        async with open_loop_of(TrioEventLoop) as loop:
            loop._enter_block()
            try:
                yield loop
            finally:
                close_fds = loop._leave_block()
    except trio.Cancelled:
        raise
    except BaseException as exc:
        raise BaseExceptionGroup("Exceptions from trio_asyncio.open_loop()", [exc]) from None
    finally:
        for fd in close_fds:
            with suppress(OSError):  # its owner may have closed it meanwhile
                os.close(fd)


def run(
    proc: Callable[[*_Ts], Awaitable[T]],
    *args: *_Ts,
    queue_len: int | None = None,
    **trio_run_options: Any,
) -> T:
    """``trio.run(proc, *args)`` with a trio-asyncio `open_loop` around it."""

    async def main() -> T:
        async with open_loop(queue_len=queue_len):
            return await proc(*args)

    return trio.run(main, **trio_run_options)


# Public objects say they live here, not in aiotrio's private modules.
for _name in ("BaseTrioEventLoop", "TrioEventLoop", "TrioExecutor"):
    globals()[_name].__module__ = __name__
del _name
