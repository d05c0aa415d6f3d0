"""``aio_as_trio`` and ``trio_as_aio``: trio-asyncio's adapters, same names and uses.

Each wraps an async function, an awaitable, an async context manager or an
async iterator from one side so the other side can use it::

    await aio_as_trio(asyncio_fn)(*args)          # from Trio
    async with aio_as_trio(asyncio_cm) as value:  # from Trio
    async for item in aio_as_trio(asyncio_agen):  # from Trio
    await trio_as_aio(trio_fn)(*args)             # from asyncio

An async context manager is entered and exited by one task on its own side,
held open in between, so managers that remember their task (asyncio.timeout,
asyncio.TaskGroup, Trio nurseries and cancel scopes) work across the bridge.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

import trio

from ._bridge import (
    bridges_of,
    run_coroutine_on,
    start_asyncio_task,
    start_trio_call,
    wait_asyncio_future,
)
from ._current import loop_for_trio_code, running_loop_for
from ._misuse import refuse_asyncio_caller, refuse_trio_function

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Coroutine,
        Generator,
    )
    from contextlib import AbstractAsyncContextManager, AbstractContextManager
    from types import TracebackType

    from ._bridges import TrioCallFuture
    from ._typing import AsyncContextManagerIterable, AwaitableAsyncContextManager

P = ParamSpec("P")
T = TypeVar("T")
Entered = TypeVar("Entered")
Exit = TypeVar("Exit", bound="bool | None")


_FROM_ASYNCIO = "in asyncio code use the asyncio object directly (await it, async with, async for)"


def _is_only(raised: BaseException, error: BaseException | None) -> bool:
    """Whether `raised` is `error`, maybe inside exception groups of one."""
    while raised is not error and isinstance(raised, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", raised)  # (narrowed, members unknown)
        if len(group.exceptions) != 1:
            return False
        raised = group.exceptions[0]
    return raised is error


class AsyncioAsTrio:
    """Trio-flavored view of asyncio-flavored `wrapped` (see `aio_as_trio`)."""

    def __init__(self, wrapped: Any, loop: AbstractEventLoop | None = None) -> None:
        if callable(wrapped):  # a decorator keeps the name, doc and __wrapped__
            functools.update_wrapper(self, wrapped)  # first: our attributes win
        self.wrapped: Any = wrapped
        self._loop = loop
        self._held: _HeldAsyncioContext | None = None

    @property
    def loop(self) -> AbstractEventLoop:
        return self._loop if self._loop is not None else loop_for_trio_code("aiotrio.aio_as_trio()")

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)  # a bound method: keeps __name__, __doc__

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        refuse_asyncio_caller("aiotrio.aio_as_trio(fn)(...)", _FROM_ASYNCIO)
        refuse_trio_function("aiotrio.aio_as_trio()", self.wrapped)
        loop = self.loop
        fn = functools.partial(self.wrapped, **kwargs) if kwargs else self.wrapped
        await trio.lowlevel.checkpoint_if_cancelled()
        return await wait_asyncio_future(loop, start_asyncio_task(loop, fn, args, eager=True))

    def __await__(self) -> Generator[Any, None, Any]:
        return self._await().__await__()

    async def _await(self) -> Any:
        refuse_asyncio_caller("await aiotrio.aio_as_trio(awaitable)", _FROM_ASYNCIO)
        loop = self.loop
        wrapped = self.wrapped
        if asyncio.isfuture(wrapped):
            return await wait_asyncio_future(loop, wrapped)
        if inspect.iscoroutine(wrapped):
            return await run_coroutine_on(loop, wrapped)
        if inspect.isawaitable(wrapped):
            return await run_coroutine_on(loop, _await(wrapped))
        if callable(wrapped):
            # trio-asyncio's shorthand for a function taking no arguments.
            return await self()
        raise TypeError(
            f"aio_as_trio({wrapped!r}) is neither awaitable nor callable; to "
            "call an async function use `await aio_as_trio(fn)(*args)`"
        )

    async def __aenter__(self) -> Any:
        refuse_asyncio_caller("async with aiotrio.aio_as_trio(cm)", _FROM_ASYNCIO)
        if not hasattr(self.wrapped, "__aenter__"):
            raise TypeError(
                f"{self.wrapped!r} is not an async context manager; use "
                "`aio_as_trio(cm_factory(*args))`"
            )
        if self._held is not None:
            raise RuntimeError("this aio_as_trio() context manager is already entered")
        self._held = _HeldAsyncioContext(self.loop, self.wrapped)
        return await self._held.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        held, self._held = self._held, None
        if held is None:
            raise RuntimeError("this aio_as_trio() context manager was not entered")
        return await held.exit(exc)

    def __aiter__(self) -> AsyncIterator[Any]:
        if not hasattr(self.wrapped, "__aiter__"):
            raise TypeError(
                f"{self.wrapped!r} is not an async iterable; use `aio_as_trio(agen_fn(*args))`"
            )
        return _AsyncioIteratorAsTrio(self.loop, self.wrapped.__aiter__())


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _AsyncioIteratorAsTrio:
    """Trio-flavored iterator over an asyncio async iterator: each step is an asyncio task.

    An object rather than an async generator, so leaving ``async for`` early
    leaves nothing of ours for the garbage collector to finalise; `aclose`
    closes the asyncio side explicitly (``async with aclosing(...)``).
    """

    def __init__(self, loop: AbstractEventLoop, iterator: Any) -> None:
        self._loop = loop
        self._iterator = iterator

    def __aiter__(self) -> _AsyncioIteratorAsTrio:
        return self

    async def __anext__(self) -> Any:
        refuse_asyncio_caller("async for ... in aiotrio.aio_as_trio(iterable)", _FROM_ASYNCIO)
        # StopAsyncIteration crosses as the task's exception. Eager: an item
        # that is already buffered comes back without a trip through the driver.
        await trio.lowlevel.checkpoint_if_cancelled()
        return await wait_asyncio_future(
            self._loop, start_asyncio_task(self._loop, self._iterator.__anext__, (), eager=True)
        )

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await wait_asyncio_future(self._loop, start_asyncio_task(self._loop, aclose, ()))


class _HeldAsyncioContext:
    """An asyncio task that enters an async context manager and holds it open."""

    def __init__(self, loop: AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self._manager = manager
        self._entered: asyncio.Future[Any] = loop.create_future()
        self._exit: asyncio.Future[BaseException | None] = loop.create_future()
        self._task: asyncio.Future[None] | None = None

    async def _hold(self) -> None:
        try:
            async with self._manager as value:
                self._entered.set_result(value)
                error = await self._exit
                if error is not None:
                    raise error
        except BaseException as exc:
            if not self._entered.done():
                if isinstance(exc, asyncio.CancelledError):
                    self._entered.cancel()
                else:
                    self._entered.set_exception(exc)
            raise
        finally:
            if not self._entered.done():
                self._entered.cancel()

    async def enter(self) -> Any:
        self._task = task = start_asyncio_task(self._loop, self._hold, ())
        # Its outcome is reported through _entered or exit(); retrieve it so
        # asyncio does not log it as never retrieved.
        task.add_done_callback(_retrieve_outcome)
        # A task cancelled before its first step never runs _hold at all.
        task.add_done_callback(self._on_task_done)
        return await wait_asyncio_future(self._loop, self._entered, self._cancel_entering)

    def _cancel_entering(self) -> None:
        # Once entered, the manager stays held until __aexit__, which the
        # caller runs: its body is cancelled by Trio in the usual way.
        if not self._entered.done() and self._task is not None:
            self._task.cancel()

    def _on_task_done(self, task: asyncio.Future[None]) -> None:
        if self._entered.done():
            return
        if task.cancelled():
            self._entered.cancel()
        else:
            error = task.exception()
            self._entered.set_exception(
                error or RuntimeError("the context manager exited without entering")
            )

    async def exit(self, error: BaseException | None) -> bool:
        task = self._task
        assert task is not None
        if not self._exit.done():
            self._exit.set_result(error)
        try:
            await wait_asyncio_future(self._loop, task)
        except BaseException as raised:
            if _is_only(raised, error):
                return False
            raise
        return error is not None


def _retrieve_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


@overload
def aio_as_trio(
    wrapped: Callable[P, Awaitable[T]], *, loop: AbstractEventLoop | None = None
) -> Callable[P, Coroutine[Any, Any, T]]: ...
@overload
def aio_as_trio(
    wrapped: AwaitableAsyncContextManager[T, Entered, Exit],
    *,
    loop: AbstractEventLoop | None = None,
) -> AwaitableAsyncContextManager[T, Entered, Exit]: ...
@overload
def aio_as_trio(
    wrapped: Awaitable[T], *, loop: AbstractEventLoop | None = None
) -> Awaitable[T]: ...
@overload
def aio_as_trio(
    wrapped: AsyncContextManagerIterable[Entered, Exit, T], *, loop: AbstractEventLoop | None = None
) -> AsyncContextManagerIterable[Entered, Exit, T]: ...
@overload
def aio_as_trio(
    wrapped: AbstractAsyncContextManager[Entered, Exit], *, loop: AbstractEventLoop | None = None
) -> AbstractAsyncContextManager[Entered, Exit]: ...
@overload
def aio_as_trio(
    wrapped: AsyncIterable[T], *, loop: AbstractEventLoop | None = None
) -> AsyncIterable[T]: ...
def aio_as_trio(wrapped: Any, *, loop: AbstractEventLoop | None = None) -> Any:
    """Wrap asyncio-flavored `wrapped` for use from Trio.

    :flavour: trio

    `wrapped` may be an async function (``await aio_as_trio(fn)(*args)``, or
    ``await aio_as_trio(fn)`` for no arguments; also usable as a decorator),
    an awaitable (``await aio_as_trio(fut)``), an
    async context manager or an async iterator. `loop` defaults to
    `current_loop()` at the time of use.

    Type checkers see what comes back as what went in: an async function with
    the same parameters and result (decorated, it keeps ``__name__``,
    ``__doc__`` and ``__wrapped__``), an awaitable, async context manager or
    async iterable of the same type. (The no-argument shorthand
    ``await aio_as_trio(fn)`` works but is not in the types: write
    ``await aio_as_trio(fn)()``.)
    """
    return AsyncioAsTrio(wrapped, loop)


class TrioAsAsyncio:
    """asyncio-flavored view of Trio-flavored `wrapped` (see `trio_as_aio`)."""

    def __init__(self, wrapped: Any, loop: AbstractEventLoop | None = None) -> None:
        if callable(wrapped):  # a decorator keeps the name, doc and __wrapped__
            functools.update_wrapper(self, wrapped)  # first: our attributes win
        self.wrapped: Any = wrapped
        self._loop = loop
        self._held: _HeldTrioContext | None = None

    @property
    def loop(self) -> AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        return running_loop_for("aiotrio.trio_as_aio()")

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)  # a bound method: keeps __name__, __doc__

    def __call__(self, *args: Any, **kwargs: Any) -> TrioCallFuture[Any]:
        fn = functools.partial(self.wrapped, **kwargs) if kwargs else self.wrapped
        return start_trio_call(self.loop, fn, args)

    def __await__(self) -> Generator[Any, None, Any]:
        """``await trio_as_aio(trio_fn(*args))``: the Trio awaitable, awaited in a Trio task."""
        if not inspect.isawaitable(self.wrapped):
            raise TypeError(
                f"trio_as_aio({self.wrapped!r}) is not awaitable; to call a Trio "
                "function use `await trio_as_aio(fn)(*args)`"
            )
        return start_trio_call(self.loop, _await, (self.wrapped,)).__await__()

    async def __aenter__(self) -> Any:
        if not hasattr(self.wrapped, "__aenter__") and not hasattr(self.wrapped, "__enter__"):
            raise TypeError(
                f"{self.wrapped!r} is not a context manager; use `trio_as_aio(cm_factory(*args))`"
            )
        if self._held is not None:
            raise RuntimeError("this trio_as_aio() context manager is already entered")
        self._held = _HeldTrioContext(self.loop, self.wrapped)
        return await self._held.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        held, self._held = self._held, None
        if held is None:
            raise RuntimeError("this trio_as_aio() context manager was not entered")
        return await held.exit(exc)

    def __aiter__(self) -> AsyncIterator[Any]:
        if not hasattr(self.wrapped, "__aiter__"):
            raise TypeError(
                f"{self.wrapped!r} is not an async iterable; use `trio_as_aio(agen_fn(*args))`"
            )
        return _TrioIteratorAsAsyncio(self.loop, self.wrapped.__aiter__())


class _TrioIteratorAsAsyncio:
    """asyncio-flavored iterator over a Trio async iterator: each step is a Trio task."""

    def __init__(self, loop: AbstractEventLoop, iterator: Any) -> None:
        self._loop = loop
        self._iterator = iterator

    def __aiter__(self) -> _TrioIteratorAsAsyncio:
        return self

    async def __anext__(self) -> Any:
        return await start_trio_call(self._loop, self._iterator.__anext__, ())

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await start_trio_call(self._loop, aclose, ())


class _EnteringFuture(asyncio.Future[Any]):
    """Resolves to the manager's value; cancelling it cancels the Trio task instead.

    It stays pending until the Trio task has entered the manager or has ended,
    so an asyncio task cancelled while entering resumes only after the Trio
    side has unwound.
    """

    def __init__(self, loop: AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.call: TrioCallFuture[bool] | None = None

    def cancel(self, msg: Any | None = None) -> bool:
        if self.done():
            return False
        if self.call is not None:
            self.call.cancel(msg)
        return True

    def on_call_done(self, call: asyncio.Future[bool]) -> None:
        if self.done():
            return
        if call.cancelled():
            super().cancel()
        elif call.exception() is not None:
            self.set_exception(call.exception())  # type: ignore[arg-type]
        else:
            self.set_exception(RuntimeError("the context manager exited without entering"))


class _HeldTrioContext:
    """A Trio task that enters an async context manager and holds it open.

    If the manager cancels its own body (a nursery whose child failed, an
    expired ``trio.move_on_after``), the asyncio task using it is cancelled;
    when the manager then swallows that cancellation, so does the asyncio side.
    """

    def __init__(self, loop: AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self._manager = manager
        self._user: asyncio.Task[Any] | None = asyncio.current_task()
        self._entered = _EnteringFuture(loop)
        self._exit_requested = trio.Event()
        self._exit_error: BaseException | None = None
        self._cancelled_user = False

    async def _hold(self) -> bool:
        """Returns whether the manager swallowed the body's exception."""
        if hasattr(self._manager, "__aenter__"):
            async with self._manager as value:
                await self._hold_body(value)
        else:  # a synchronous one, such as a cancel scope
            with self._manager as value:
                await self._hold_body(value)
        return self._exit_error is not None or self._cancelled_user

    # KI-protected: Trio's Event.wait registers the task before it parks, and
    # a Ctrl-C landing in between (it is not protected itself) leaves a
    # finished task registered, which Event.set later reschedules: Trio then
    # fails with TrioInternalError. The interrupt goes to Trio's main task.
    @trio.lowlevel.enable_ki_protection
    async def _hold_body(self, value: Any) -> None:
        call = self._entered.call
        if call is not None and call.cancel_called:
            # The asyncio task was cancelled while we entered: it must see
            # that cancellation (once), not a body cancelled on its behalf.
            await trio.lowlevel.checkpoint()
        self._entered.set_result(value)
        try:
            await self._exit_requested.wait()
        except trio.Cancelled:
            # The manager cancelled its body: cancel ours and wait for it,
            # unless the loop has stopped serving (a hosted run ending): the
            # asyncio side cannot run again within this Trio run.
            self._cancel_user()
            bridges = bridges_of(self._loop)
            bridges.set_when_detached(self._exit_requested)
            try:
                with trio.CancelScope(shield=True):
                    await self._exit_requested.wait()
            finally:
                bridges.forget_event(self._exit_requested)
            raise
        if self._exit_error is not None:
            raise self._exit_error

    def _cancel_user(self) -> None:
        if self._user is not None and not self._user.done():
            self._cancelled_user = True
            self._user.cancel()

    async def enter(self) -> Any:
        user = self._user
        if user is not None:
            # First: whatever lands in this task from here on (a Ctrl-C in
            # this very frame), its end releases the manager.
            user.add_done_callback(self._on_user_done)
        call = start_trio_call(self._loop, self._hold, ())
        self._entered.call = call
        call.add_done_callback(self._entered.on_call_done)
        try:
            return await self._entered
        except BaseException:
            entered = self._entered
            self._forget_user()
            if entered.done() and not entered.cancelled() and entered.exception() is None:
                # Entered, but this task was cancelled before it resumed:
                # __aexit__ will not run, so leave the manager here.
                self._abandon()
                await asyncio.wait([call])
            raise

    def _abandon(self) -> None:
        """Leave the manager without an ``__aexit__`` from asyncio (none will come)."""
        self._user = None
        self._exit_requested.set()
        call = self._entered.call
        if call is not None:
            call.cancel()

    def _on_user_done(self, user: asyncio.Task[Any]) -> None:
        # A Ctrl-C (or SystemExit) can land anywhere in the task's own code,
        # this class's included: between __aenter__'s return and the body
        # (Python then skips __aexit__), or in exit() before it signals the
        # manager. Held, the manager would keep the loop's shutdown, which
        # waits for this Trio call, waiting forever. Other endings leave it
        # alone: the manager may be exited from another task (a fixture's
        # teardown).
        if self._exit_requested.is_set() or user.cancelled():
            return
        if isinstance(user.exception(), (KeyboardInterrupt, SystemExit)):
            self._abandon()

    def _forget_user(self) -> None:
        if self._user is not None:
            self._user.remove_done_callback(self._on_user_done)

    async def exit(self, error: BaseException | None) -> bool:
        self._exit_error = error
        self._exit_requested.set()
        call = self._entered.call
        assert call is not None
        try:
            swallowed = await call
        except BaseException as raised:
            if _is_only(raised, error):
                return False
            raise
        finally:
            self._forget_user()
        if swallowed and self._cancelled_user and self._user is not None:
            self._user.uncancel()
        return swallowed


@overload
def trio_as_aio(
    wrapped: Callable[P, Awaitable[T]], *, loop: AbstractEventLoop | None = None
) -> Callable[P, asyncio.Future[T]]: ...
@overload
def trio_as_aio(
    wrapped: AsyncContextManagerIterable[Entered, Exit, T], *, loop: AbstractEventLoop | None = None
) -> AsyncContextManagerIterable[Entered, Exit, T]: ...
@overload
def trio_as_aio(
    wrapped: AbstractAsyncContextManager[Entered, Exit], *, loop: AbstractEventLoop | None = None
) -> AbstractAsyncContextManager[Entered, Exit]: ...
@overload
def trio_as_aio(
    wrapped: AbstractContextManager[Entered, Exit], *, loop: AbstractEventLoop | None = None
) -> AbstractAsyncContextManager[Entered, Exit]: ...
@overload
def trio_as_aio(
    wrapped: AsyncIterable[T], *, loop: AbstractEventLoop | None = None
) -> AsyncIterable[T]: ...
@overload
def trio_as_aio(
    wrapped: Awaitable[T], *, loop: AbstractEventLoop | None = None
) -> Awaitable[T]: ...
def trio_as_aio(wrapped: Any, *, loop: AbstractEventLoop | None = None) -> Any:
    """Wrap Trio-flavored `wrapped` for use from asyncio.

    :flavour: asyncio

    `wrapped` may be an async function (``await trio_as_aio(fn)(*args)``,
    which returns an asyncio future at once; also usable as a decorator), an
    awaitable (``await trio_as_aio(trio_fn(*args))``), an async iterator, or a
    context manager, async or not: a nursery or a cancel scope such as
    ``trio.move_on_after(1)`` works from asyncio. `loop` defaults to the
    running loop: an aiotrio loop, or any other, which then hosts a Trio guest
    run.

    Type checkers see an async function with the same parameters whose call
    returns an ``asyncio.Future`` of its result (decorated, it keeps
    ``__name__``, ``__doc__`` and ``__wrapped__``), a context manager entered
    as the same value, an async iterable of the same items, or an awaitable
    of the same result.
    """
    return TrioAsAsyncio(wrapped, loop)


# trio-asyncio's longer aliases, so migrating is an import change.
asyncio_as_trio = aio_as_trio
trio_as_asyncio = trio_as_aio
