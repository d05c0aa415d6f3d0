"""aiotrio's pytest plugin, registered through the ``pytest11`` entry point.

Loading it changes nothing global, and it does nothing until one of these is
used:

- ``aiotrio_loop``: a fixture for pytest-trio tests that opens an aiotrio loop
  (`aiotrio.open_loop`) for the test's Trio run, so the test can call asyncio
  code with `aiotrio.run_asyncio` / `aiotrio.aio_as_trio`. The loop's timers
  follow the run's clock: with ``autojump_clock`` asyncio sleeps jump too.
- `asyncio_fixture`: turns an async fixture written for asyncio (an async
  generator or coroutine function) into one that pytest-trio tests can use.
  Its setup and teardown run in one asyncio task on the ``aiotrio_loop`` loop.
- ``--aiotrio-asyncio=aiotrio|both`` (ini ``aiotrio_asyncio``): pytest-asyncio
  tests run on aiotrio loops, through pytest-asyncio's own
  ``pytest_asyncio_loop_factories`` hook (pytest-asyncio >= 1.4). ``both``
  runs every test on the stock loop and on aiotrio.
- In tests that use ``aiotrio_loop``, failure tracebacks leave out aiotrio's
  own frames, so a failure in asyncio code reads as it would in asyncio
  (``--fulltrace`` shows everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import types
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio

import aiotrio

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Callable,
        Generator,
        Iterable,
        Mapping,
    )

    LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: The fixture that opens the loop; every asyncio fixture depends on it.
LOOP_FIXTURE = "aiotrio_loop"

_MODES = ("off", "aiotrio", "both")
_MODE_HELP = (
    "run pytest-asyncio tests on aiotrio loops: 'aiotrio' (only there), 'both' "
    "(each test on the stock loop and on aiotrio) or 'off' (the default)"
)
_AIOTRIO_DIR = os.path.dirname(os.path.abspath(aiotrio.__file__)) + os.sep


# -- pytest-asyncio on aiotrio ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--aiotrio-asyncio`` and the ini option ``aiotrio_asyncio``.

    :flavour: pytest
    """
    group = parser.getgroup("aiotrio")
    group.addoption(
        "--aiotrio-asyncio",
        dest="aiotrio_asyncio",
        choices=_MODES,
        default=None,
        help=_MODE_HELP,
    )
    parser.addini("aiotrio_asyncio", _MODE_HELP, default="off")


def pytest_configure(config: pytest.Config) -> None:
    """Register `AsyncioLoopFactories` when ``aiotrio_asyncio`` is not ``off``.

    :flavour: pytest

    Raises:
        pytest.UsageError: for an unknown mode, or when pytest-asyncio is
            missing or older than 1.4.
    """
    mode = config.getoption("aiotrio_asyncio") or config.getini("aiotrio_asyncio")
    if mode not in _MODES:
        raise pytest.UsageError(f"aiotrio_asyncio must be one of {', '.join(_MODES)}, not {mode!r}")
    if mode == "off":
        return
    # pytest-asyncio calls the hook whenever an implementation is registered
    # and rejects None, so ours is registered only when it has work to do.
    if not hasattr(config.pluginmanager.hook, "pytest_asyncio_loop_factories"):
        raise pytest.UsageError(
            f"--aiotrio-asyncio={mode} needs pytest-asyncio >= 1.4 "
            "(for its pytest_asyncio_loop_factories hook)"
        )
    config.pluginmanager.register(
        AsyncioLoopFactories(both=mode == "both"), "aiotrio-asyncio-loop-factories"
    )


class AsyncioLoopFactories:
    """pytest-asyncio's loop-factory hook, giving aiotrio's factory.

    :flavour: pytest

    A hook wrapper, so that with ``both=True`` the factories other
    implementations return (a conftest's uvloop, say) are kept and aiotrio's
    is added; without any, the stock ``asyncio.new_event_loop`` is the other.
    """

    def __init__(self, *, both: bool) -> None:
        self.both = both

    @pytest.hookimpl(wrapper=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Generator[None, Mapping[str, LoopFactory] | None, Mapping[str, LoopFactory]]:
        """The loop factories `item` runs under, by their ids.

        :flavour: pytest
        """
        others = yield
        if not self.both:
            return {"aiotrio": aiotrio.new_event_loop}
        factories: dict[str, LoopFactory] = (
            dict(others) if others else {"asyncio": asyncio.new_event_loop}
        )
        factories["aiotrio"] = aiotrio.new_event_loop
        return factories


# -- fixtures for pytest-trio tests ----------------------------------------------


def _trio_fixture(func: Callable[..., Any], **options: Any) -> Any:
    """pytest-trio's ``trio_fixture``, without importing pytest-trio.

    The function is synchronous and returns a Trio-flavored async generator:
    pytest-trio runs that in the test's Trio run, while pytest-asyncio (in
    auto mode) leaves synchronous fixtures alone.
    """
    func._force_trio_fixture = True  # type: ignore[attr-defined]
    return pytest.fixture(func, **options)


async def _open_loop_for_test() -> AsyncIterator[aiotrio.EventLoop]:
    async with aiotrio.open_loop() as loop:
        yield loop


def _aiotrio_loop() -> AsyncIterator[aiotrio.EventLoop]:
    """An aiotrio loop open for the test's Trio run (pytest-trio tests only).

    :flavour: pytest

    The loop is ``aiotrio.current_loop()`` in the test and its fixtures; on
    teardown its remaining asyncio tasks are cancelled and awaited, then it
    is closed (see `aiotrio.open_loop`).
    """
    return _open_loop_for_test()


# Request it by name; as a Python object it is only pytest's fixture
# definition (its docs are `_aiotrio_loop`'s).
aiotrio_loop: object = _trio_fixture(_aiotrio_loop, name=LOOP_FIXTURE)


def asyncio_fixture(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    params: Iterable[object] | None = None,
    ids: Iterable[object] | Callable[[Any], object | None] | None = None,
) -> Any:
    """Make an asyncio-flavored async fixture usable from pytest-trio tests.

    :flavour: pytest

    Use it instead of ``@pytest.fixture``, bare or with arguments::

        @asyncio_fixture
        async def session():
            async with aiohttp.ClientSession() as session:
                yield session

    `fn` is an async generator function (one ``yield``) or a coroutine
    function, and may request other fixtures. It runs on the
    ``aiotrio_loop`` loop, which it requests implicitly: an async generator
    runs in one asyncio task from setup to teardown (so ``asyncio.timeout``,
    task groups and context variables work across its ``yield``), in the
    order pytest-trio gives fixtures. Teardown runs even when the test fails
    or is cancelled. An exception from setup or teardown carries a note
    naming the fixture. `name`, `params` and `ids` are ``pytest.fixture``'s.

    pytest-trio's limits apply: function scope only, and the fixture must be
    requested as an argument (pytest-trio runs no autouse or usefixtures
    async fixtures, its issues #123 and #124).
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        if not (inspect.isasyncgenfunction(fn) or inspect.iscoroutinefunction(fn)):
            raise TypeError(
                f"asyncio_fixture needs an async generator or coroutine function, not {fn!r}"
            )
        wrapper = _wrap_asyncio_fixture(fn, name or fn.__name__)
        return _trio_fixture(wrapper, name=name, params=params, ids=ids)

    return decorate if fn is None else decorate(fn)


def _wrap_asyncio_fixture(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The synchronous fixture function pytest-trio runs for asyncio fixture `fn`."""
    signature = inspect.signature(fn)
    takes_loop = LOOP_FIXTURE in signature.parameters
    parameters = list(signature.parameters.values())
    if not takes_loop:
        parameters.append(inspect.Parameter(LOOP_FIXTURE, inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(fn)
    def fixture(**kwargs: Any) -> AsyncIterator[Any]:
        loop = kwargs[LOOP_FIXTURE] if takes_loop else kwargs.pop(LOOP_FIXTURE)
        return _serve_asyncio_fixture(name, loop, fn, kwargs)

    # pytest reads the fixtures a function requests from its signature.
    fixture.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=inspect.Signature.empty
    )
    return fixture


async def _serve_asyncio_fixture(
    name: str,
    loop: aiotrio.EventLoop,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
) -> AsyncGenerator[Any, None]:
    """Trio side of an asyncio fixture: set up, yield its value, tear down."""
    if not inspect.isasyncgenfunction(fn):
        with _noted(f"in asyncio fixture {name!r}"):
            value = await aiotrio.aio_as_trio(fn, loop=loop)(**kwargs)
        yield value
        return
    held = aiotrio.aio_as_trio(_OneYield(name, fn(**kwargs)), loop=loop)
    with _noted(f"in setup of asyncio fixture {name!r}"):
        value = await held.__aenter__()
    try:
        yield value
    finally:
        # Teardown runs in full whatever ended the test, as pytest's does.
        with (
            trio.CancelScope(shield=True),
            _noted(f"in teardown of asyncio fixture {name!r}"),
        ):
            await held.__aexit__(None, None, None)


class _OneYield:
    """A fixture's async generator as an async context manager.

    As ``contextlib.asynccontextmanager``, minus its frames in tracebacks and
    with pytest's wording for a generator that yields other than once.
    """

    def __init__(self, name: str, agen: AsyncGenerator[Any, None]) -> None:
        self._name = name
        self._agen = agen

    async def __aenter__(self) -> Any:
        try:
            return await self._agen.asend(None)
        except StopAsyncIteration:
            raise ValueError(f"asyncio fixture {self._name!r} did not yield") from None

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._agen.asend(None)
        except StopAsyncIteration:
            return
        await self._agen.aclose()
        raise ValueError(f"asyncio fixture {self._name!r} yielded more than once")


@contextlib.contextmanager
def _noted(note: str) -> Generator[None]:
    """Add `note` to an exception raised in the block (not to cancellations)."""
    try:
        yield
    except Exception as exc:
        exc.add_note(note)
        raise


# -- readable failures -----------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Drop aiotrio's frames from the failures of tests that use ``aiotrio_loop``.

    :flavour: pytest

    Not with ``--fulltrace``, which shows every frame.
    """
    excinfo = call.excinfo
    if (
        excinfo is not None
        and LOOP_FIXTURE in getattr(item, "fixturenames", ())
        and not item.config.getoption("fulltrace", False)
    ):
        _hide_aiotrio_frames(excinfo.value, set())
        if excinfo.value.__traceback__ is not None:
            excinfo.traceback = type(excinfo.traceback)(excinfo.value.__traceback__)
    return (yield)


def _hide_aiotrio_frames(exc: BaseException, seen: set[int]) -> None:
    """Drop aiotrio's frames from `exc`'s traceback, its causes and members.

    What is left reads as asyncio and Trio code calling each other directly.
    Frames of aiotrio's core stay only where the exception was raised in it,
    from the last frame of other code on, so an error aiotrio raised still
    shows where; this plugin's own frames never stay (its errors are about
    a fixture, which their notes name).
    """
    if id(exc) in seen:
        return
    seen.add(id(exc))
    entries: list[types.TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    kinds = [_frame_kind(entry.tb_frame) for entry in entries]
    raised_in_core = bool(kinds) and kinds[-1] == "core"
    last_other = max((i for i, kind in enumerate(kinds) if kind == "other"), default=-1)
    kept = [
        entry
        for i, (entry, kind) in enumerate(zip(entries, kinds, strict=True))
        if kind == "other" or (kind == "core" and raised_in_core and i > last_other)
    ]
    if len(kept) < len(entries):
        rebuilt: types.TracebackType | None = None
        for entry in reversed(kept):
            rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
        exc.__traceback__ = rebuilt
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            _hide_aiotrio_frames(linked, seen)
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)  # (narrowed, members unknown)
        for member in group.exceptions:
            _hide_aiotrio_frames(member, seen)


def _frame_kind(frame: types.FrameType) -> str:
    """ "plugin" (this module), "core" (the rest of aiotrio) or "other"."""
    path = frame.f_code.co_filename
    if path == __file__:
        return "plugin"
    return "core" if path.startswith(_AIOTRIO_DIR) else "other"
