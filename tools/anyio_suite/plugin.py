"""pytest plugin for tools/anyio-suite.sh: expected failures, strictly.

Reads $AIOTRIO_ANYIO_EXPECTED_FAILURES, one rule a line (``#`` starts a comment):

- ``NODE_ID  reason``: the test must fail on aiotrio. It is marked
  ``xfail(strict=True)``, so the run fails if it passes; a listed id that was
  not collected is an error, so the list stays true.
- ``[CONDITION] PATTERN  reason``: while CONDITION holds on this machine the
  tests matching PATTERN (``*`` matches anything) are deselected, because they
  fail on asyncio's own loop too. Running them anyway is no good: their leaked
  sockets warn from the garbage collector inside later, unrelated tests.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
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
    # /etc/hosts without "::1 localhost" (this workplace's sandboxes).
    "no-localhost-ipv6": _no_localhost_ipv6,
    # For tests that need what no machine of this project has (the Internet).
    "always": lambda: True,
}


@dataclass
class Rules:
    xfail: dict[str, str]
    deselect: list[tuple[re.Pattern[str], str, str]]  # (pattern, condition, reason)


def _load() -> Rules:
    rules = Rules({}, [])
    path = os.environ.get("AIOTRIO_ANYIO_EXPECTED_FAILURES")
    if not path:
        return rules
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
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
            rules.xfail[target] = reason.strip()
        else:
            pattern = re.compile(".*".join(re.escape(part) for part in target.split("*")))
            rules.deselect.append((pattern, condition, reason.strip()))
    return rules


_report: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rules = _load()
    if os.environ.get("AIOTRIO_ANYIO_BASELINE"):
        rules.xfail.clear()  # asyncio's own loop: aiotrio's expected failures do not apply
    active = [
        (pattern, condition, reason)
        for pattern, condition, reason in rules.deselect
        if CONDITIONS[condition]()
    ]
    kept, deselected = [], []
    counts: dict[tuple[str, str], int] = {}
    seen = set()
    for item in items:
        rule = next((r for r in active if r[0].fullmatch(item.nodeid)), None)
        if rule is not None:
            deselected.append(item)
            counts[rule[1], rule[2]] = counts.get((rule[1], rule[2]), 0) + 1
            continue
        kept.append(item)
        reason = rules.xfail.get(item.nodeid)
        if reason is not None:
            seen.add(item.nodeid)
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    _report.extend(f"deselected {n} [{c}]: {r}" for (c, r), n in sorted(counts.items()))
    # Only a full run can tell that a listed test is gone.
    if config.args == ["tests"]:
        missing = sorted(set(rules.xfail) - seen)
        if missing:
            raise pytest.UsageError(
                "expected_failures.txt lists tests that were not collected:\n" + "\n".join(missing)
            )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _report:
        terminalreporter.write_line(f"aiotrio anyio-suite: {line}")
