"""The driver's loops re-queue a handle an interrupt left popped but not run (issue 12)."""

from __future__ import annotations

import collections
import functools
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

import pytest

from aiotrio._driver import _POP_WINDOWS, Driver
from aiotrio._popped_handles import PopWindows

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Handle:
    """Stands in for an asyncio Handle: what the loop below reads of one."""

    def __init__(self, on_run: Any = None) -> None:
        self._cancelled = False
        self._on_run = on_run

    def _run(self) -> None:
        if self._on_run is not None:
            self._on_run()


class _SignalingQueue(collections.deque[_Handle]):
    """A ready queue whose ``popleft`` pops, then sends the process a signal.

    ``os.kill`` runs the Python handler before it returns, so the handler's
    exception leaves the calling frame at its ``popleft`` call instruction with
    the handle already out of the queue: where the interpreter raises it when
    a signal arrives during the real (C) ``deque.popleft``.
    """

    def __init__(self, handles: list[_Handle]) -> None:
        super().__init__(handles)
        pop = super().popleft
        kill = functools.partial(os.kill, os.getpid(), signal.SIGUSR1)

        def popleft() -> _Handle:
            handle = pop()
            kill()
            return handle

        self.popleft = popleft  # type: ignore[method-assign]


def _one_step(ready: collections.deque[_Handle]) -> None:
    # The driver's pattern (Driver._iterate): hold the head, pop, run.
    handle = ready[0]
    ready.popleft()
    if handle._cancelled:
        return
    handle._run()


@pytest.fixture
def sigusr1_raises() -> Iterator[None]:
    assert threading.current_thread() is threading.main_thread()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_windows_are_found_in_every_driver_loop() -> None:
    # Built at import from the bytecode of this Python: an AssertionError
    # there means the driver's loops no longer have the held-then-pop shape.
    for loop in (Driver._iterate, Driver._run_ready, Driver._run_ready_debug):
        assert loop.__code__ in _POP_WINDOWS._windows  # pyright: ignore[reportPrivateUsage]


def test_an_interrupt_right_after_the_pop_finds_the_handle(sigusr1_raises: None) -> None:
    windows = PopWindows(_one_step)
    handle = _Handle()
    # popleft is a Python function here; only the pop inside it is C: the
    # exception passes through _one_step at its popleft call all the same.
    ready = _SignalingQueue([handle, _Handle()])
    with pytest.raises(KeyboardInterrupt) as caught:
        _one_step(ready)
    assert list(ready) != [] and handle not in ready  # popped, not run
    assert windows.popped_not_run(caught.value) is handle


def test_an_interrupt_inside_the_callback_is_not_taken_for_one_before_it(
    sigusr1_raises: None,
) -> None:
    windows = PopWindows(_one_step)
    kill = functools.partial(os.kill, os.getpid(), signal.SIGUSR1)
    ready: collections.deque[_Handle] = collections.deque([_Handle(on_run=kill)])
    with pytest.raises(KeyboardInterrupt) as caught:
        _one_step(ready)
    assert windows.popped_not_run(caught.value) is None  # it ran: nothing to re-queue


def test_an_interrupt_before_the_pop_is_not_taken_for_one_after_it() -> None:
    windows = PopWindows(_one_step)

    class Empty(collections.deque[_Handle]):
        pass

    with pytest.raises(IndexError) as caught:  # raised at ready[0], before any pop
        _one_step(Empty())
    assert windows.popped_not_run(caught.value) is None
