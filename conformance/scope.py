"""Which of CPython's test_asyncio tests are in scope, and why the rest are not.

In scope: every module and class whose tests exercise an event loop through
asyncio's public surface (or the test mixins), which `inject` points at
aiotrio. Out of scope: tests of the stock selector/proactor loops' own
internals, driven with mocked selectors, sockets or loop methods; they
would test CPython's private plumbing, not a loop.
"""

from __future__ import annotations

import fnmatch

#: module -> why it is out of scope.
OUT_OF_SCOPE_MODULES: dict[str, str] = {
    "test_selector_events": (
        "unit tests of BaseSelectorEventLoop and the selector transports, "
        "driven through a mocked selector and mocked sockets (stock selector internals)"
    ),
    "test_proactor_events": "unit tests of the Windows proactor loop's internals, with mocks",
    "test_windows_events": "Windows only (proactor loop)",
    "test_windows_utils": "Windows only",
}

#: "module.Class" -> why that class is out of scope.
OUT_OF_SCOPE_CLASSES: dict[str, str] = {
    "test_base_events.BaseEventLoopTests": (
        "unit tests of BaseEventLoop's own methods (_run_once, _add_callback, "
        "run_forever's internals) on a bare base_events.BaseEventLoop whose _selector "
        "and _process_events are mocks (stock loop internals)"
    ),
    "test_base_events.BaseLoopSockSendfileTests": (
        "tests sock_sendfile's fallback path on a bare BaseSelectorEventLoop, chosen "
        "because it has no native sendfile (stock loop internals)"
    ),
    "test_unix_events.SelectorEventLoopSignalTests": (
        "unit tests of _UnixSelectorEventLoop.add/remove_signal_handler with "
        "asyncio.unix_events.signal mocked (stock internals; real signal delivery "
        "is tested by test_events' signal tests)"
    ),
    "test_unix_events.UnixReadPipeTransportTests": (
        "unit tests of the unix pipe transports on fake fds with os mocked, checked "
        "through TestLoop's fake reader/writer registry (transport internals; the real "
        "pipe transports run in test_events and test_subprocess)"
    ),
    "test_unix_events.UnixWritePipeTransportTests": (
        "unit tests of the unix pipe transports on fake fds with os mocked, checked "
        "through TestLoop's fake reader/writer registry (transport internals; the real "
        "pipe transports run in test_events and test_subprocess)"
    ),
}


#: test id pattern (fnmatch) -> why those tests are out of scope.
OUT_OF_SCOPE_TESTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "test_futures.*.test_evil_call_soon_list_mutation",
            "test_futures.*.test_use_after_free_on_fut_*_with_evil__getattribute__",
        ),
        "crash tests of the C Future against a deliberately broken BaseEventLoop "
        "subclass (gh-125969, gh-125984); the loop under test is never used",
    ),
    "test_tasks.*.test_stop_while_run_in_complete": (
        "asserts TestLoop's fake clock, which moves 0.1 s after the iteration that "
        "called stop(); no real clock does (a stock loop would show ~0.2 s too)"
    ),
}


def out_of_scope_reason(test_id: str) -> str | None:
    """Why `test_id` ("module.Class.method") is out of scope, or None."""
    module, _, rest = test_id.partition(".")
    if module in OUT_OF_SCOPE_MODULES:
        return OUT_OF_SCOPE_MODULES[module]
    cls = rest.partition(".")[0]
    reason = OUT_OF_SCOPE_CLASSES.get(f"{module}.{cls}")
    if reason is None:
        reason = next(
            (
                why
                for pattern, why in OUT_OF_SCOPE_TESTS.items()
                if fnmatch.fnmatchcase(test_id, pattern)
            ),
            None,
        )
    return reason


#: "module" or "module.Class" -> why its tests cannot run in mode (b) at all
#: (tests whose shape is found out while they run are reported by
#: `trio_hosting` instead).
MODE_B_NOT_APPLICABLE: dict[str, str] = {
    "test_runners": (
        "tests asyncio.run() and asyncio.Runner themselves (SIGINT handling, policies, "
        "loop factories), which mode (b) replaces with open_loop()"
    ),
}


def mode_b_reason(test_id: str) -> str | None:
    """Why `test_id` is not run in mode (b), or None."""
    module, _, rest = test_id.partition(".")
    cls = rest.partition(".")[0]
    return MODE_B_NOT_APPLICABLE.get(module) or MODE_B_NOT_APPLICABLE.get(f"{module}.{cls}")
