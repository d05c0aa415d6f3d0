"""Make CPython's test_asyncio build aiotrio loops, and notice when one did not.

Nothing here edits CPython's files: the runner process rebinds the names the
tests (and asyncio's runners) use to build loops, before any test module is
imported.

- ``asyncio.SelectorEventLoop`` / ``asyncio.EventLoop`` (and their
  ``asyncio.unix_events`` aliases) become `InjectedLoop`, an aiotrio loop.
  This covers the event-loop test mixins (test_events, test_sock_lowlevel,
  test_sendfile, test_server, test_buffered_proto, test_sslproto), whose
  concrete classes call ``asyncio.SelectorEventLoop(<a stock selector>)``.
- The default policy's ``_loop_factory`` becomes `InjectedLoop`, so
  ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner`` and
  ``IsolatedAsyncioTestCase`` build aiotrio loops. It is a class attribute,
  so the fresh policy that each module's ``tearDownModule`` installs (via
  ``set_event_loop_policy(None)``) builds them too.
- ``asyncio.BaseEventLoop`` (a bare loop, in test_pep492 and test_runners)
  becomes `BareLoop`, an aiotrio loop too.
- ``test_utils.TestCase.new_test_loop`` (CPython's virtual-time ``TestLoop``)
  builds a `VirtualTimeLoop`: an aiotrio loop on a Trio ``MockClock``.

`LEDGER` counts every loop built (by class), so a test that silently ran on a
stock loop is reported as such, never as an aiotrio pass.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import selectors
import threading
from asyncio import base_events, runners, unix_events
from typing import TYPE_CHECKING, Any
from unittest import mock

import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Selectors that work everywhere map to aiotrio's portable "trio" readiness
# backend; the platform's pollable selector (epoll/kqueue/devpoll) maps to
# aiotrio's fast "selector" backend. So the mixins' Select/Poll/EPoll classes
# exercise both aiotrio backends under CPython's own class names.
_PORTABLE_SELECTORS: tuple[type[selectors.BaseSelector], ...] = tuple(
    cls
    for cls in (
        getattr(selectors, "SelectSelector", None),
        getattr(selectors, "PollSelector", None),
    )
    if cls is not None
)
_STOCK_SELECTORS: tuple[type[selectors.BaseSelector], ...] = tuple(
    cls
    for name in (
        "SelectSelector",
        "PollSelector",
        "EpollSelector",
        "KqueueSelector",
        "DevpollSelector",
    )
    if (cls := getattr(selectors, name, None)) is not None
)

_StockSelectorLoop: type[asyncio.AbstractEventLoop] = unix_events._UnixSelectorEventLoop


class LoopLedger:
    """Counts the event loops the current test built, and how it ran them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runner = threading.local()  # .depth: inside asyncio.Runner's run/close
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.aiotrio = 0
            self.stock: collections.Counter[str] = collections.Counter()
            # Loop runs by asyncio.Runner (asyncio.run, IsolatedAsyncioTestCase),
            # and by the test itself (run_until_complete...).
            self.runner_runs = 0
            self.direct_runs = 0

    def record(self, loop: object) -> None:
        with self._lock:
            if isinstance(loop, aiotrio.EventLoop):
                self.aiotrio += 1
            else:
                self.stock[type(loop).__qualname__] += 1

    def record_run(self) -> None:
        """A loop's run_forever() starts (run_until_complete goes through it)."""
        with self._lock:
            if getattr(self._runner, "depth", 0):
                self.runner_runs += 1
            else:
                self.direct_runs += 1

    @contextlib.contextmanager
    def in_runner(self) -> Iterator[None]:
        self._runner.depth = getattr(self._runner, "depth", 0) + 1
        try:
            yield
        finally:
            self._runner.depth -= 1

    def kind(self) -> str:
        """ "stock" if any stock loop was built, else "aiotrio", else "none"."""
        if self.stock:
            return "stock"
        return "aiotrio" if self.aiotrio else "none"

    def shape(self) -> str:
        """How the test ran loops: "runner", "direct", "mixed" or "none".

        Only "runner" tests can run in mode (b) (see `trio_hosting`).
        """
        if self.direct_runs:
            return "mixed" if self.runner_runs else "direct"
        return "runner" if self.runner_runs else "none"

    def summary(self) -> dict[str, Any]:
        return {"aiotrio": self.aiotrio, "stock": dict(self.stock)}


LEDGER = LoopLedger()

#: Set by mode (b) (`trio_hosting`): called before a loop is driven
#: synchronously (run_forever/run_until_complete), to refuse it in the test's
#: own Trio task.
direct_run_guard: Callable[[asyncio.AbstractEventLoop], None] | None = None


def _on_run_forever(loop: asyncio.AbstractEventLoop) -> None:
    LEDGER.record_run()
    if direct_run_guard is not None and not getattr(LEDGER._runner, "depth", 0):
        direct_run_guard(loop)


def track_loops() -> None:
    """Record every loop built from now on, and how it is run, in `LEDGER`."""
    original = base_events.BaseEventLoop.__init__

    def __init__(self: base_events.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        LEDGER.record(self)

    base_events.BaseEventLoop.__init__ = __init__  # type: ignore[method-assign]

    original_run_forever = base_events.BaseEventLoop.run_forever

    def run_forever(self: base_events.BaseEventLoop) -> None:
        _on_run_forever(self)
        original_run_forever(self)

    base_events.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]

    # Whatever asyncio.Runner runs (asyncio.run, IsolatedAsyncioTestCase) is
    # not the test driving a loop itself.
    for name in ("run", "close"):
        method = getattr(runners.Runner, name)

        def in_runner(self: Any, *args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with LEDGER.in_runner():
                return __method(self, *args, **kwargs)

        setattr(runners.Runner, name, in_runner)


class InjectedLoop(aiotrio.EventLoop):
    """What test code gets for ``asyncio.SelectorEventLoop(selector)``.

    The stock selector is closed and replaced by aiotrio's readiness backend
    (portable selectors -> "trio", pollable ones -> "selector"). A test that
    passes a fake selector (a mock) is testing the stock selector loop's
    internals, so it gets a stock loop, which `LEDGER` reports.
    """

    def __new__(cls, selector: Any = None, **kwargs: Any) -> Any:
        if selector is not None and not isinstance(selector, _STOCK_SELECTORS):
            return _StockSelectorLoop(selector)  # type: ignore[call-arg]
        return super().__new__(cls)

    def __init__(
        self,
        selector: selectors.BaseSelector | None = None,
        *,
        clock: trio.abc.Clock | None = None,
    ) -> None:
        readiness = None  # AIOTRIO_READINESS or aiotrio's default
        if selector is not None:
            readiness = "trio" if isinstance(selector, _PORTABLE_SELECTORS) else "selector"
            selector.close()
        super().__init__(readiness=readiness, clock=clock)

    def run_forever(self) -> None:
        _on_run_forever(self)
        super().run_forever()


class VirtualTimeLoop(InjectedLoop):
    """An aiotrio loop standing in for CPython's ``test_utils.TestLoop``.

    ``TestLoop`` fakes time: it starts at 0 and moves only when the test's
    time script (`gen`) or ``advance_time()`` says so. Here the loop's Trio
    runs use a ``trio.testing.MockClock`` with ``autojump_threshold=0``: time
    starts at 0 and, whenever the loop is idle, jumps to the earliest timer,
    which is what the scripts do. The script's own assertions about the
    timers asyncio schedules are not replayed (they test asyncio's
    scheduling, not the loop); the tests' assertions on results and
    ``loop.time()`` all run.
    """

    def __new__(cls, gen: Callable[[], Any] | None = None) -> Any:
        return object.__new__(cls)

    def __init__(self, gen: Callable[[], Any] | None = None) -> None:
        self._mock_clock = trio.testing.MockClock(autojump_threshold=0)
        super().__init__(clock=self._mock_clock)
        self._clock_resolution = 1e-9  # as TestLoop
        self._time_script = gen

    def advance_time(self, advance: float) -> None:
        """``TestLoop.advance_time``: move the virtual clock forward."""
        if advance:
            self._mock_clock.jump(advance)


class BareLoop(InjectedLoop):
    """What test code gets for a bare ``asyncio.BaseEventLoop()``.

    test_pep492 and test_runners use a bare BaseEventLoop as "some loop" and,
    because it has no I/O plumbing, stub that out with mocks (``_selector``,
    ``_process_events``, ``_write_to_self``). An aiotrio loop has real
    plumbing, so each stub is turned into a spy: the test's mock is
    installed, but calls go through to the real method (``side_effect``
    wins over the ``return_value`` the test sets).
    """

    _SELECTOR_METHODS = (
        "select",
        "register",
        "unregister",
        "modify",
        "get_key",
        "get_map",
        "close",
        "fileno",
    )

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, mock.NonCallableMock) and name in (
            "_selector",
            "_process_events",
            "_write_to_self",
        ):
            real = getattr(self, name)
            if not isinstance(real, mock.NonCallableMock):
                if name == "_selector":
                    for method in self._SELECTOR_METHODS:
                        getattr(value, method).side_effect = getattr(real, method)
                else:
                    value.side_effect = real
        super().__setattr__(name, value)


def _new_test_loop(self: Any, gen: Callable[[], Any] | None = None) -> VirtualTimeLoop:
    loop = VirtualTimeLoop(gen)
    self.set_event_loop(loop)
    return loop


def install_aiotrio() -> None:
    """Rebind the loop-building names (see the module docstring). Idempotent."""
    # Imported here, not at the top: the test package must load after aiotrio
    # is imported and before any test module is.
    test_utils = importlib.import_module("test.test_asyncio.utils")
    # A bare ``asyncio.BaseEventLoop()`` is what test_pep492 and test_runners
    # use as "some loop" (``base_events.BaseEventLoop``, which
    # test_base_events' stock-internals classes use, stays stock).
    asyncio.BaseEventLoop = BareLoop  # type: ignore[misc]
    for module in (asyncio, unix_events):
        module.SelectorEventLoop = InjectedLoop  # type: ignore[misc,assignment]
        if hasattr(module, "EventLoop"):
            module.EventLoop = InjectedLoop  # type: ignore[misc,assignment,attr-defined]
    unix_events._UnixDefaultEventLoopPolicy._loop_factory = InjectedLoop  # type: ignore[attr-defined]
    test_utils.TestCase.new_test_loop = _new_test_loop  # type: ignore[method-assign]
