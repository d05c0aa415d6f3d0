"""The expected-failure list (expected_failures.txt): parsing and matching.

One entry a line::

    PATTERN [py=3.11,3.12] [mode=a|b] [kind=fail|hang|stock|flaky] -- reason

- PATTERN is a test id without the ``test.test_asyncio.`` prefix
  (``module.Class.method``); ``*`` and ``?`` match as in `fnmatch`, so one
  entry can cover the same test in CPython's several Task/Future classes.
- ``py`` limits the entry to some Pythons, ``mode`` to one hosting mode.
- ``kind``: ``fail`` (default) the test fails on aiotrio; ``hang`` it hangs,
  so it runs with a short timeout; ``stock`` it builds a stock loop on
  purpose; ``flaky`` it may pass or fail (use sparingly, say why).
- The reason is required: one line naming the cause.

An entry that matches no test on any run is reported as stale.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

KINDS = ("fail", "hang", "stock", "flaky")
MODES = ("a", "b")


@dataclass
class Expectation:
    pattern: str
    reason: str
    kind: str = "fail"
    pythons: frozenset[str] | None = None  # None: every Python
    mode: str | None = None  # None: both modes
    line: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(fnmatch.translate(self.pattern))

    def applies(self, python: str, mode: str) -> bool:
        return (self.pythons is None or python in self.pythons) and (
            self.mode is None or self.mode == mode
        )

    def matches(self, test_id: str) -> bool:
        return self._regex.match(test_id) is not None


class ExpectationError(ValueError):
    pass


def parse(path: Path) -> list[Expectation]:
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, reason = line.partition(" -- ")
        reason = reason.strip()
        if not sep or not reason:
            raise ExpectationError(f"{path}:{number}: no ' -- reason'")
        pattern, *options = head.split()
        entry = Expectation(pattern=pattern, reason=reason, line=number)
        for option in options:
            key, _, value = option.partition("=")
            if key == "py":
                entry.pythons = frozenset(value.split(","))
            elif key == "mode" and value in MODES:
                entry.mode = value
            elif key == "kind" and value in KINDS:
                entry.kind = value
            else:
                raise ExpectationError(f"{path}:{number}: bad option {option!r}")
        entry.__post_init__()
        entries.append(entry)
    return entries


class ExpectationSet:
    """The entries that apply to one Python and mode, with use tracking."""

    def __init__(self, entries: list[Expectation], python: str, mode: str) -> None:
        self.entries = [e for e in entries if e.applies(python, mode)]
        self._exact = {e.pattern: e for e in self.entries if not _is_glob(e.pattern)}
        self._globs = [e for e in self.entries if _is_glob(e.pattern)]
        self.used: set[int] = set()

    def find(self, test_id: str) -> Expectation | None:
        entry = self._exact.get(test_id)
        if entry is None:
            entry = next((e for e in self._globs if e.matches(test_id)), None)
        if entry is not None:
            self.used.add(entry.line)
        return entry


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
