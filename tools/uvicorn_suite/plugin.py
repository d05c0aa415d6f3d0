"""pytest plugin for tools/uvicorn-suite.sh: expected failures, and figures per loop.

Reads $AIOTRIO_UVICORN_EXPECTED_FAILURES, one rule a line (``#`` starts a comment):

- ``NODE_ID  reason``: the test fails, for the reason given. It is marked
  ``xfail(strict=True)``, so the run fails if it passes; a listed id that was
  not collected is an error (in a full run), so the list stays true.
- ``[CONDITION] PATTERN  reason``: while CONDITION holds, the tests matching
  PATTERN (``*`` matches anything) are deselected: they cannot run here on
  either loop (no Internet, say).

At the end it prints one line per loop: the tests run on aiotrio's loop, those
run on asyncio's own loop, and those that take no loop parameter (uvicorn's sync
tests: configuration, the CLI, supervisors; where they run a server it is on
asyncio's own loop).
"""

from __future__ import annotations

import os
import re
import socket
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable


def _no_localhost_ipv6() -> bool:
    try:
        socket.getaddrinfo("localhost", 0, socket.AF_INET6)
    except OSError:
        return True
    return False


CONDITIONS: dict[str, Callable[[], bool]] = {
    "no-localhost-ipv6": _no_localhost_ipv6,
    "always": lambda: True,
}

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
    xfail: dict[str, str] = {}
    deselect: list[tuple[re.Pattern[str], str]] = []
    path = os.environ.get("AIOTRIO_UVICORN_EXPECTED_FAILURES")
    for raw in Path(path).read_text().splitlines() if path else []:
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        condition = None
        if line.startswith("["):
            condition, _, line = line[1:].partition("]")
            if condition not in CONDITIONS:
                raise pytest.UsageError(f"unknown condition [{condition}] in: {raw!r}")
        target, _, reason = line.strip().partition(" ")
        if not reason.strip():
            raise pytest.UsageError(f"rule without a reason: {raw!r}")
        if condition is None:
            xfail[target] = reason.strip()
        elif CONDITIONS[condition]():
            pattern = re.compile(".*".join(re.escape(part) for part in target.split("*")))
            deselect.append((pattern, reason.strip()))
    kept, dropped, seen = [], [], set()
    for item in items:
        if any(pattern.fullmatch(item.nodeid) for pattern, _ in deselect):
            dropped.append(item)
            continue
        kept.append(item)
        _loops[item.nodeid] = _loop_of(item)
        if item.nodeid in xfail:
            seen.add(item.nodeid)
            item.add_marker(pytest.mark.xfail(strict=True, reason=xfail[item.nodeid]))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        _notes.append(f"{len(dropped)} deselected by expected_failures.txt conditions")
    if config.args == ["tests"]:  # only a full run can tell that a listed test is gone
        missing = sorted(set(xfail) - seen)
        if missing:
            raise pytest.UsageError(
                "expected_failures.txt lists tests that were not collected:\n" + "\n".join(missing)
            )


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
