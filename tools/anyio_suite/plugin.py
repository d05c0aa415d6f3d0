"""pytest plugin for tools/anyio-suite.sh (and tools/trio-asyncio-suite.sh): expected
failures, strictly.

Applies the rules of $AIOTRIO_ANYIO_EXPECTED_FAILURES (format and meaning:
tools/sdist_suite/aiotrio_suite_rules.py): ``NODE_ID  reason`` lines are tests that must fail
on aiotrio (strict xfails); ``[CONDITION] PATTERN  reason`` lines deselect the tests that
fail on asyncio's own loop too while CONDITION holds here. Running those anyway is no good:
their leaked sockets warn from the garbage collector inside later, unrelated tests. Prints
the deselected counts per rule at the end.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import aiotrio_suite_rules

if TYPE_CHECKING:
    import pytest

_report: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rules = aiotrio_suite_rules.load(os.environ.get("AIOTRIO_ANYIO_EXPECTED_FAILURES"))
    if os.environ.get("AIOTRIO_ANYIO_BASELINE"):
        rules.xfail.clear()  # asyncio's own loop: aiotrio's expected failures do not apply
    counts = aiotrio_suite_rules.apply(config, items, rules)
    _report.extend(f"deselected {n} [{c}]: {r}" for (c, r), n in sorted(counts.items()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _report:
        terminalreporter.write_line(f"aiotrio anyio-suite: {line}")
