"""Expected-failure rules for the pytest plugins of the library suites run against aiotrio
(tools/anyio_suite/plugin.py, tools/uvicorn_suite/plugin.py; tools/sdist_suite/lib.sh puts
this folder on PYTHONPATH).

A rules file has one rule a line (``#`` starts a comment line):

- ``NODE_ID  reason``: the test fails, for the reason given. `apply` marks it
  ``xfail(strict=True)``, so the run fails if it passes; in a full run (``tests``) a listed
  id that was not collected is an error, so the list stays true.
- ``[CONDITION] PATTERN  reason``: while CONDITION (a name in `CONDITIONS`) holds on this
  machine, the tests matching PATTERN (``*`` matches anything) are deselected.
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from dataclasses import dataclass, field
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
    xfail: dict[str, str] = field(default_factory=dict)
    deselect: list[tuple[re.Pattern[str], str, str]] = field(default_factory=list)
    """(pattern, condition, reason), whether the condition holds or not."""


def load(path: str | None) -> Rules:
    """The rules of the file at `path` (none without one); UsageError on a malformed rule."""
    rules = Rules()
    for raw in Path(path).read_text().splitlines() if path else []:
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


def apply(
    config: pytest.Config, items: list[pytest.Item], rules: Rules
) -> Counter[tuple[str, str]]:
    """Deselect the items whose condition holds and mark the expected failures; return how
    many were deselected per (condition, reason)."""
    active = [rule for rule in rules.deselect if CONDITIONS[rule[1]]()]
    kept, deselected = [], []
    counts: Counter[tuple[str, str]] = Counter()
    seen = set()
    for item in items:
        rule = next((r for r in active if r[0].fullmatch(item.nodeid)), None)
        if rule is not None:
            deselected.append(item)
            counts[rule[1], rule[2]] += 1
            continue
        kept.append(item)
        reason = rules.xfail.get(item.nodeid)
        if reason is not None:
            seen.add(item.nodeid)
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    if config.args == ["tests"]:  # only a full run can tell that a listed test is gone
        missing = sorted(set(rules.xfail) - seen)
        if missing:
            raise pytest.UsageError(
                "expected_failures.txt lists tests that were not collected:\n" + "\n".join(missing)
            )
    return counts
