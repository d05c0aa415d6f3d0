"""Every private asyncio name aiotrio uses, bound or listed here and nowhere else.

aiotrio is asyncio's own selector loop with a different driver, so it has to
work with asyncio's private state: the ready queue, the timer heap, handles'
fields. Each such name is in `PRIVATE_NAMES` with the Pythons it exists on
(``tests/test_asyncio_internals.py`` checks every entry against the running
Python), and the module-level names below are the only way the rest of the
package reaches asyncio's private functions and constants.

Functions of ``asyncio.events`` are looked up at each call, as asyncio itself
does: code (CPython's own tests, for one) swaps them for their pure-Python
versions after import.
"""

from __future__ import annotations

import asyncio
import dis
import sys
from asyncio import base_events, coroutines, events, tasks, unix_events
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    import collections
    import contextvars
    import selectors
    import types
    from collections.abc import Callable


class PrivateName(NamedTuple):
    """A private asyncio name: `owner` (dotted path) has `name` on these Pythons."""

    owner: str
    name: str
    since: tuple[int, int] = (3, 11)
    until: tuple[int, int] | None = None  # last Python that has it, None: all so far
    instance: bool = False  # an instance attribute (set in __init__), not on the class


_LOOP = "asyncio.base_events.BaseEventLoop"
_SELECTOR_LOOP = "asyncio.selector_events.BaseSelectorEventLoop"
_UNIX_LOOP = "asyncio.unix_events._UnixSelectorEventLoop"
_HANDLE = "asyncio.events.Handle"
_TIMER = "asyncio.events.TimerHandle"

PRIVATE_NAMES: tuple[PrivateName, ...] = (
    # Module-level functions and constants (bound or wrapped below).
    PrivateName("asyncio.events", "_get_running_loop"),
    PrivateName("asyncio.events", "_set_running_loop"),
    PrivateName("asyncio.events", "_get_event_loop_policy", since=(3, 14)),
    PrivateName("asyncio.coroutines", "_iscoroutinefunction", since=(3, 14)),
    PrivateName("asyncio.tasks", "_register_task"),
    # The future a task's step is parked on (the task tree's await edges).
    PrivateName("asyncio.tasks.Task", "_fut_waiter"),
    PrivateName("asyncio.base_events", "_format_handle"),
    # Its bytecode is read to tell whether a KeyboardInterrupt came before the callback.
    PrivateName(_HANDLE, "_run"),
    PrivateName("asyncio.base_events", "_MIN_SCHEDULED_TIMER_HANDLES"),
    PrivateName("asyncio.base_events", "_MIN_CANCELLED_TIMER_HANDLES_FRACTION"),
    PrivateName("asyncio.unix_events", "_UnixSubprocessTransport"),
    # The event loop's state and methods (the driver runs BaseEventLoop._run_once's steps).
    PrivateName(_LOOP, "_ready", instance=True),
    PrivateName(_LOOP, "_scheduled", instance=True),
    PrivateName(_LOOP, "_timer_cancelled_count", instance=True),
    PrivateName(_LOOP, "_clock_resolution", instance=True),
    PrivateName(_LOOP, "_stopping", instance=True),
    PrivateName(_LOOP, "_debug", instance=True),
    PrivateName(_LOOP, "_current_handle", instance=True),
    PrivateName(_LOOP, "_thread_id", instance=True),
    PrivateName(_LOOP, "_closed", instance=True),
    PrivateName(_LOOP, "_check_closed"),
    PrivateName(_LOOP, "_check_running"),
    PrivateName(_LOOP, "_check_thread"),
    PrivateName(_LOOP, "_check_callback"),
    PrivateName(_LOOP, "_call_soon"),
    PrivateName(_LOOP, "_set_coroutine_origin_tracking"),
    PrivateName(_LOOP, "_asyncgen_firstiter_hook"),
    PrivateName(_LOOP, "_asyncgen_finalizer_hook"),
    PrivateName(_LOOP, "_make_subprocess_transport"),
    PrivateName(_SELECTOR_LOOP, "_selector", instance=True),
    PrivateName(_SELECTOR_LOOP, "_write_to_self"),
    PrivateName(_SELECTOR_LOOP, "_process_events"),
    PrivateName(_SELECTOR_LOOP, "_add_reader"),
    PrivateName(_SELECTOR_LOOP, "_remove_reader"),
    PrivateName(_UNIX_LOOP, "_signal_handlers", instance=True),
    PrivateName(_UNIX_LOOP, "_check_signal"),
    PrivateName(_UNIX_LOOP, "_handle_signal"),
    # Handles: what the driver reads to run and drop them.
    PrivateName(_HANDLE, "_run"),
    PrivateName(_HANDLE, "_cancelled"),
    PrivateName(_HANDLE, "_callback"),
    PrivateName(_HANDLE, "_source_traceback"),
    PrivateName(_TIMER, "_when"),
    PrivateName(_TIMER, "_scheduled"),
    # The subprocess transport, which aiotrio tells when its child exited.
    PrivateName("asyncio.base_subprocess.BaseSubprocessTransport", "_process_exited"),
    PrivateName("asyncio.base_subprocess.BaseSubprocessTransport", "_wait"),
    PrivateName("asyncio.base_subprocess.BaseSubprocessTransport", "_proc", instance=True),
    # The policy's thread-local current loop, and (3.11-3.13) its child watcher.
    # (3.14 renamed the policy classes with a leading underscore.)
    PrivateName(
        "asyncio.events.BaseDefaultEventLoopPolicy", "_local", until=(3, 13), instance=True
    ),
    PrivateName(
        "asyncio.events._BaseDefaultEventLoopPolicy", "_local", since=(3, 14), instance=True
    ),
    PrivateName("asyncio.events.BaseDefaultEventLoopPolicy._Local", "_loop", until=(3, 13)),
    PrivateName("asyncio.events._BaseDefaultEventLoopPolicy._Local", "_loop", since=(3, 14)),
    PrivateName("asyncio.events.BaseDefaultEventLoopPolicy._Local", "_set_called", until=(3, 13)),
    PrivateName(
        "asyncio.unix_events._UnixDefaultEventLoopPolicy", "_watcher", until=(3, 13), instance=True
    ),
)


def get_running_loop_or_none() -> asyncio.AbstractEventLoop | None:
    """The thread's running loop, or None (``asyncio.events._get_running_loop``)."""
    return events._get_running_loop()


def set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Make `loop` (or None) the thread's running loop (``asyncio.events._set_running_loop``).

    Looked up at each call, not bound at import: a program (CPython's own
    tests, TestPyGetEventLoop) may swap in the pure-Python versions.
    """
    events._set_running_loop(loop)


def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """The policy, without 3.14's deprecation warning for the public getter."""
    get_policy = getattr(events, "_get_event_loop_policy", None)
    if get_policy is None:  # before 3.14, where the getter is not deprecated
        return asyncio.get_event_loop_policy()  # pyright: ignore[reportDeprecated]
    return cast("asyncio.AbstractEventLoopPolicy", get_policy())


def policy_thread_state(policy: object) -> Any:
    """The policy's thread-local record of the current loop (``_loop``, ``_set_called``)."""
    return getattr(policy, "_local", None)


def installed_child_watcher() -> Any:
    """The child watcher a program installed through the policy (3.11-3.13), or None."""
    if sys.version_info >= (3, 14):
        return None  # child watchers are gone
    return getattr(asyncio.get_event_loop_policy(), "_watcher", None)  # pyright: ignore[reportDeprecated]


def is_coroutine_function(fn: object) -> bool:
    """``asyncio.iscoroutinefunction`` without its 3.14 deprecation warning."""
    check = getattr(coroutines, "_iscoroutinefunction", None)
    if check is None:  # before 3.14, where it is not deprecated
        return asyncio.iscoroutinefunction(fn)  # pyright: ignore[reportDeprecated]
    return bool(check(fn))


def awaited_future(task: asyncio.Task[Any]) -> asyncio.Future[Any] | None:
    """The future `task` is parked on (``Task._fut_waiter``), or None."""
    return cast("asyncio.Future[Any] | None", getattr(task, "_fut_waiter", None))


def _first_call_offset(code: types.CodeType) -> int:
    """The bytecode offset of the first call instruction in `code`."""
    for instruction in dis.get_instructions(code):
        if instruction.opname.startswith("CALL"):
            return instruction.offset
    raise AssertionError(f"no call in {code.co_qualname}")  # pragma: no cover


_HANDLE_RUN = events.Handle._run.__code__  # pyright: ignore[reportPrivateUsage]
# Handle._run calls its callback at its first call instruction.
_HANDLE_RUN_CALLS_AT = _first_call_offset(_HANDLE_RUN)


def handle_not_started(exc: BaseException) -> asyncio.Handle | None:
    """The handle whose ``_run`` `exc` interrupted before it called the callback.

    A KeyboardInterrupt from Trio's SIGINT handler can land in any frame that
    is not KI-protected, including the first instructions of asyncio's own
    ``Handle._run``: the handle is then out of the ready queue and its
    callback never ran (a task's wake-up lost: that task never resumes). The
    traceback tells: its innermost ``Handle._run`` entry stopped before the
    call (deeper entries are then the signal handler's own frames).
    """
    entry = _innermost_handle_run(exc)
    if entry is None or entry.tb_lasti >= _HANDLE_RUN_CALLS_AT:
        return None
    return cast("asyncio.Handle", entry.tb_frame.f_locals["self"])


def callback_started(exc: BaseException) -> bool:
    """Whether `exc` went through a ``Handle._run`` that had called its callback.

    False when the traceback has no ``Handle._run`` entry (`exc` was raised
    before it was entered) or its innermost one stopped before the call (see
    `handle_not_started`).
    """
    entry = _innermost_handle_run(exc)
    return entry is not None and entry.tb_lasti >= _HANDLE_RUN_CALLS_AT


def _innermost_handle_run(exc: BaseException) -> types.TracebackType | None:
    """The innermost ``Handle._run`` entry of `exc`'s traceback (deeper entries
    may be the signal handler's own frames)."""
    tb = exc.__traceback__
    innermost = None
    while tb is not None:
        if tb.tb_frame.f_code is _HANDLE_RUN:
            innermost = tb
        tb = tb.tb_next
    return innermost


def format_handle(handle: object) -> str:
    # Looked up at each call: asyncio's tests patch base_events.
    return cast("str", cast("Any", base_events)._format_handle(handle))


def slow_callback_logger() -> Any:
    """asyncio's logger, as base_events sees it (tests patch it there)."""
    return cast("Any", base_events).logger


register_task: Callable[[asyncio.Task[Any]], None] = cast("Any", tasks)._register_task
UnixSubprocessTransport: Any = cast("Any", unix_events)._UnixSubprocessTransport
MIN_SCHEDULED_TIMER_HANDLES: int = cast("Any", base_events)._MIN_SCHEDULED_TIMER_HANDLES
MIN_CANCELLED_TIMER_HANDLES_FRACTION: float = cast(
    "Any", base_events
)._MIN_CANCELLED_TIMER_HANDLES_FRACTION


if TYPE_CHECKING:

    class SelectorLoopInternals(asyncio.SelectorEventLoop):
        """asyncio's private loop state and methods aiotrio uses, declared for the
        type checkers (typeshed leaves them out). Handles are Any: their private
        fields are what the driver works with."""

        _ready: collections.deque[Any]
        _scheduled: list[Any]
        _timer_cancelled_count: int
        _clock_resolution: float
        _stopping: bool
        _debug: bool
        _current_handle: asyncio.Handle | None
        _thread_id: int | None
        _selector: selectors.BaseSelector
        _closed: bool
        _signal_handlers: dict[int, asyncio.Handle]

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _call_soon(
            self,
            callback: Callable[..., object],
            args: tuple[Any, ...],
            context: contextvars.Context | None,
        ) -> Any: ...
        def _write_to_self(self) -> None: ...
        def _set_coroutine_origin_tracking(self, enabled: bool) -> None: ...
        def _process_events(self, event_list: Any) -> None: ...
        def _asyncgen_firstiter_hook(self, agen: Any) -> None: ...
        def _asyncgen_finalizer_hook(self, agen: Any) -> None: ...
        def _check_signal(self, sig: int) -> None: ...
        def _handle_signal(self, sig: int) -> None: ...
        def _add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> Any: ...
        def _remove_reader(self, fd: int) -> bool: ...

else:
    SelectorLoopInternals = asyncio.SelectorEventLoop
