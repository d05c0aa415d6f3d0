"""pytest plugin for tools/uvicorn-suite.sh: expected failures, and figures per loop.

Applies the rules of $AIOTRIO_UVICORN_EXPECTED_FAILURES (format and meaning:
tools/sdist_suite/aiotrio_suite_rules.py): ``NODE_ID  reason`` lines are tests that fail
(strict xfails); ``[CONDITION] PATTERN  reason`` lines deselect the tests that cannot run
here on either loop while CONDITION holds (no Internet, say).

At the end it prints one line per loop: the tests run on aiotrio's loop, those
run on asyncio's own loop, and those that take no loop parameter (uvicorn's sync
tests: configuration, the CLI, supervisors; where they run a server it is on
asyncio's own loop).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING

import aiotrio_suite_rules

if TYPE_CHECKING:
    import pytest

LOOPS = ("aiotrio", "stock", "no loop parameter")


def _loop_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if backend is None:
        return "no loop parameter"
    return "aiotrio" if backend[1].get("loop_factory") is not None else "stock"


_loops: dict[str, str] = {}
_outcomes: Counter[tuple[str, str]] = Counter()
_notes: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rules = aiotrio_suite_rules.load(os.environ.get("AIOTRIO_UVICORN_EXPECTED_FAILURES"))
    counts = aiotrio_suite_rules.apply(config, items, rules)
    _loops.update((item.nodeid, _loop_of(item)) for item in items)
    if counts:
        deselected = sum(counts.values())
        _notes.append(f"{deselected} deselected by expected_failures.txt conditions")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    loop = _loops.get(report.nodeid, "no loop parameter")
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "failed (xpassed)"
        elif report.skipped:
            outcome = "skipped"
        elif report.failed:
            outcome = "failed" if report.when == "call" else "error"
        else:
            outcome = "passed"
        _outcomes[loop, outcome] += 1
    elif report.when == "teardown" and report.failed:
        _outcomes[loop, "error"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for loop in LOOPS:
        counts = {o: n for (each, o), n in _outcomes.items() if each == loop}
        if counts:
            figures = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
            terminalreporter.write_line(f"uvicorn-suite {loop}: {figures}")
    for note in _notes:
        terminalreporter.write_line(f"uvicorn-suite: {note}")
