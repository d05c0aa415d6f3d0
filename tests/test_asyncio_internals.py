"""Every private asyncio name aiotrio relies on exists on the running Python.

`aiotrio._asyncio_internals.PRIVATE_NAMES` lists them with the Pythons they
exist on; a new CPython that renames or drops one fails here, by name, before
anything fails in a less obvious way.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import warnings
from typing import Any

import pytest

import aiotrio
from aiotrio import _asyncio_internals
from aiotrio._asyncio_internals import PRIVATE_NAMES, PrivateName

_MISSING = object()


def _resolve(dotted: str) -> Any:
    """Import the longest module prefix of `dotted`, then walk the attributes.

    Returns `_MISSING` when an attribute on the way does not exist.
    """
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.14 policy aliases
                obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    raise ImportError(dotted)


def _instance_of(cls: type) -> tuple[Any, Any]:
    """An instance of `cls` (or of a concrete subclass) and how to dispose of it."""
    if issubclass(cls, asyncio.AbstractEventLoop):
        loop = asyncio.SelectorEventLoop()
        return loop, loop.close
    if cls.__name__ == "BaseSubprocessTransport":
        return _subprocess_transport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if "Policy" in cls.__name__:
            return asyncio.DefaultEventLoopPolicy(), None
    return cls(), None


def _subprocess_transport() -> tuple[Any, Any]:
    """A real subprocess transport, with the loop to close after.

    Made on an aiotrio loop: a stock loop would install a child watcher in the
    global policy on 3.11-3.13, which later tests would then see.
    """
    loop = aiotrio.new_event_loop()

    async def make() -> Any:
        transport, _ = await loop.subprocess_exec(
            asyncio.SubprocessProtocol, sys.executable, "-c", "pass"
        )
        await transport._wait()
        transport.close()
        return transport

    transport = loop.run_until_complete(make())
    return transport, loop.close


def _applies(entry: PrivateName) -> bool:
    version = sys.version_info[:2]
    return entry.since <= version and (entry.until is None or version <= entry.until)


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: f"{e.owner}.{e.name}")
def test_private_name_exists_where_listed(entry: PrivateName) -> None:
    owner = _resolve(entry.owner)
    if owner is _MISSING:
        present = False
    elif entry.instance:
        obj, dispose = _instance_of(owner)
        try:
            present = hasattr(obj, entry.name)
        finally:
            if dispose is not None:
                dispose()
    else:
        present = hasattr(owner, entry.name)
    if _applies(entry):
        assert present, f"{entry.owner}.{entry.name} is gone on this Python: update aiotrio"
    else:
        # Listed as absent here: if it came back, the Python range is out of date.
        assert not present, f"{entry.owner}.{entry.name} exists here: widen its Python range"


def _handle_run_outcome(
    interrupt_at_entry: bool,
) -> tuple[BaseException, asyncio.Handle, list[str]]:
    """Run a Handle whose _run gets KeyboardInterrupt: at its entry, or from its callback."""
    loop = asyncio.new_event_loop()
    ran: list[str] = []

    def callback() -> None:
        ran.append("callback")
        raise KeyboardInterrupt

    handle = asyncio.Handle(callback, (), loop)

    def tracer(frame: Any, event: str, arg: Any) -> None:
        # As Trio's SIGINT handler on Handle._run's first instructions.
        if event == "call" and frame.f_code is asyncio.Handle._run.__code__:
            sys.settrace(previous)
            raise KeyboardInterrupt

    previous = sys.gettrace()
    try:
        if interrupt_at_entry:
            sys.settrace(tracer)
        handle._run()
    except KeyboardInterrupt as exc:
        return exc, handle, ran
    finally:
        sys.settrace(previous)
        loop.close()
    raise AssertionError("no KeyboardInterrupt")


def test_an_interrupt_before_the_callback_is_told_apart_from_one_in_it() -> None:
    exc, handle, ran = _handle_run_outcome(interrupt_at_entry=True)
    assert ran == []
    assert _asyncio_internals.handle_not_started(exc) is handle
    assert not _asyncio_internals.callback_started(exc)

    exc, handle, ran = _handle_run_outcome(interrupt_at_entry=False)
    assert ran == ["callback"]
    assert _asyncio_internals.handle_not_started(exc) is None
    assert _asyncio_internals.callback_started(exc)

    outside = KeyboardInterrupt()  # never went through a Handle._run
    assert _asyncio_internals.handle_not_started(outside) is None
    assert not _asyncio_internals.callback_started(outside)


@pytest.mark.skipif(
    sys.version_info >= (3, 14),
    reason="3.14+: C task steps read the running loop from the thread state, which only the C "
    "setter writes, so an aiotrio loop's own tasks fail under the pure-Python one; "
    "conformance runs CPython's TestPyGetEventLoop there",
)
def test_the_running_loop_goes_through_asyncio_events_current_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A program may swap asyncio.events' running-loop functions for the pure-Python
    ones (CPython's TestPyGetEventLoop does): aiotrio's batches must set and read the
    running loop through whichever are there, not through copies bound at import.
    """
    from asyncio import events  # noqa: PLC0415

    import trio  # noqa: PLC0415

    monkeypatch.setattr(events, "_get_running_loop", events._py__get_running_loop)
    monkeypatch.setattr(events, "_set_running_loop", events._py__set_running_loop)
    monkeypatch.setattr(events, "get_running_loop", events._py_get_running_loop)

    async def main() -> tuple[bool, bool]:
        async with aiotrio.open_loop() as loop:
            seen: list[bool] = []
            ran = trio.Event()

            def callback() -> None:
                seen.append(events.get_running_loop() is loop)
                ran.set()

            loop.call_soon(callback)
            await ran.wait()
            return seen == [True], events._py__get_running_loop() is None

    seen, restored_between_batches = trio.run(main)
    assert seen
    assert restored_between_batches
