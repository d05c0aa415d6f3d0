"""Mode (b): every test runs inside a Trio program, its asyncio work in open_loop().

Each test's ``run()`` is called from the main task of a ``trio.run`` (on the
main thread, as a Trio program would be). unittest's machinery and the
test's synchronous parts run right there; ``greenback`` gives that
synchronous code a portal back into the Trio task, so whenever it needs
asyncio work done it can await it without a second thread:

- every ``asyncio.Runner`` it creates - so ``asyncio.run()`` and
  ``IsolatedAsyncioTestCase`` too - is an ``async with aiotrio.open_loop()``
  block in that Trio run, held open from the runner's first use to its
  ``close()`` (a custom ``loop_factory`` is honoured as far as the task
  factory it sets, which is all test_asyncio's factories do);
- ``Runner.run(coro)`` runs `coro` as a task of that loop and awaits it from
  Trio with ``aiotrio.aio_as_trio``.

A test cannot run this way when it drives an event loop object itself
(``run_until_complete``/``run_forever``: inside ``open_loop()`` the loop runs
for the whole block and ``stop()`` has no effect), or when it asks for its
own loop factory or event loop policy (``open_loop()`` builds its loop). Such
a test is stopped at that point with `NotTrioHostable` and reported as not
applicable to mode (b), with the reason; so are the tests `scope` lists.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
import unittest
from asyncio import coroutines, events, runners, unix_events
from typing import Any

import greenback
import trio

import aiotrio

from . import inject

_StockRunner = runners.Runner


class NotTrioHostable(BaseException):
    """This test's shape does not allow running it inside Trio (mode b)."""


class TestState:
    """What the current test did, as far as mode (b) is concerned."""

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None  # the Trio task running the test
        self.nursery: trio.Nursery | None = None
        self.new_test()

    def new_test(self) -> None:
        """Called as each test starts (inside its Trio run)."""
        self.hosted_runners = 0  # runners served by open_loop() blocks
        self.refused: str | None = None  # why the test is not mode-(b) shaped


STATE = TestState()


def in_test_task() -> bool:
    """Whether we run in the test's own Trio task (not a loop, not a thread)."""
    if STATE.task is None:
        return False
    try:
        return trio.lowlevel.current_task() is STATE.task
    except RuntimeError:  # not in Trio: another thread
        return False


def refuse(reason: str) -> None:
    if STATE.refused is None:
        STATE.refused = reason
    raise NotTrioHostable(reason)


def _guard_direct_run(loop: asyncio.AbstractEventLoop) -> None:
    if in_test_task():
        refuse("drives an event loop object itself (run_until_complete/run_forever)")


def _default_loop_factory(factory: Any) -> bool:
    return factory is None or factory in (
        inject.InjectedLoop,
        asyncio.new_event_loop,
        events.new_event_loop,
    )


def _task_factory_of(factory: Any) -> Any:
    """The task factory a custom `factory`'s loop has, to give the open_loop() loop.

    test_asyncio's custom loop factories build the default loop and set a
    task factory (eager tasks) on it; that much carries over. Any other
    factory is refused.
    """
    loop = factory()
    try:
        if type(loop) is not inject.InjectedLoop:
            refuse(
                "asks asyncio.Runner/asyncio.run for a loop_factory building "
                f"{type(loop).__qualname__}"
            )
        return loop.get_task_factory()
    finally:
        loop.close()


def _default_policy() -> bool:
    policy = events._event_loop_policy
    return policy is None or type(policy) is unix_events._UnixDefaultEventLoopPolicy  # type: ignore[attr-defined]


class TrioRunner(_StockRunner):
    """``asyncio.Runner`` whose loop is an ``aiotrio.open_loop()`` block in Trio.

    Only from the test's own task; anywhere else (another thread) it is the
    stock Runner, which builds a hosted aiotrio loop.
    """

    _hosted = False
    _close_requested: trio.Event
    _closed: trio.Event
    _close_error: BaseException | None = None

    def _lazy_init(self) -> None:
        if self._state is runners._State.CLOSED:
            raise RuntimeError("Runner is closed")
        if self._state is runners._State.INITIALIZED:
            return
        if not in_test_task():
            super()._lazy_init()
            return
        task_factory = None
        if not _default_loop_factory(self._loop_factory):
            task_factory = _task_factory_of(self._loop_factory)
        if not _default_policy():
            refuse("installs its own event loop policy")
        self._loop = greenback.await_(self._open())
        if task_factory is not None:
            self._loop.set_task_factory(task_factory)
        self._hosted = True
        STATE.hosted_runners += 1
        if self._loop_factory is None:  # as Runner: only the default loop is set
            events.set_event_loop(self._loop)
            self._set_event_loop = True
        self._context = contextvars.copy_context()
        self._state = runners._State.INITIALIZED

    async def _open(self) -> aiotrio.EventLoop:
        assert STATE.nursery is not None
        loop: aiotrio.EventLoop = await STATE.nursery.start(self._serve)
        return loop

    async def _serve(self, *, task_status: trio.TaskStatus[aiotrio.EventLoop]) -> None:
        self._close_requested = trio.Event()
        self._closed = trio.Event()
        try:
            async with aiotrio.open_loop() as loop:
                if self._debug is not None:
                    loop.set_debug(self._debug)
                task_status.started(loop)
                await self._close_requested.wait()
        except BaseException as exc:  # reported by close(), as Runner.close would
            self._close_error = exc
        finally:
            self._closed.set()

    def run(self, coro: Any, *, context: contextvars.Context | None = None) -> Any:
        if not in_test_task() or (self._state is runners._State.INITIALIZED and not self._hosted):
            return super().run(coro, context=context)
        # Runner.run's own checks, in its order for this Python.
        if sys.version_info < (3, 14) and not coroutines.iscoroutine(coro):
            raise ValueError(f"a coroutine was expected, got {coro!r}")
        if events._get_running_loop() is not None:
            raise RuntimeError("Runner.run() cannot be called from a running event loop")
        self._lazy_init()
        if not coroutines.iscoroutine(coro):
            if not inspect.isawaitable(coro):
                raise TypeError("An asyncio.Future, a coroutine or an awaitable is required")
            coro = _wrap_awaitable(coro)
        if context is None:
            context = self._context
        return greenback.await_(self._run(coro, context))

    async def _run(self, coro: Any, context: contextvars.Context) -> Any:
        loop = self._loop
        assert loop is not None

        def start() -> asyncio.Task[Any]:
            return loop.create_task(coro, context=context)

        return await aiotrio.aio_as_trio(start, loop=loop)()

    def close(self) -> None:
        if not self._hosted or self._state is not runners._State.INITIALIZED:
            super().close()
            return
        try:
            greenback.await_(self._shut_down())
        finally:
            if self._set_event_loop:
                events.set_event_loop(None)
            self._loop = None
            self._state = runners._State.CLOSED
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error

    async def _shut_down(self) -> None:
        self._close_requested.set()
        await self._closed.wait()


async def _wrap_awaitable(awaitable: Any) -> Any:
    return await awaitable


def _run_test_in_trio(test: unittest.TestCase, *args: Any, **kwargs: Any) -> Any:
    """``TestCase.__call__`` for mode (b): the whole run() inside trio.run."""

    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            STATE.nursery = nursery
            STATE.task = trio.lowlevel.current_task()
            await greenback.ensure_portal()
            try:
                return test.run(*args, **kwargs)
            finally:
                STATE.task = None
                STATE.nursery = None
                # Runners the test never closed: leaving their open_loop()
                # blocks cancels and awaits what is left on them.
                nursery.cancel_scope.cancel()

    return trio.run(main)


def install() -> None:
    """Switch this process to mode (b). Call after `inject.install_aiotrio`."""
    inject.direct_run_guard = _guard_direct_run
    asyncio.Runner = TrioRunner  # type: ignore[misc]
    runners.Runner = TrioRunner  # type: ignore[misc]
    unittest.TestCase.__call__ = _run_test_in_trio  # type: ignore[method-assign]
