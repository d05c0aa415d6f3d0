"""Turning per-test records into categories, checks and the results table.

Every in-scope test lands in exactly one category:

- ``passed``: passed, and every loop it built was an aiotrio loop.
- ``failed``: failed (or errored, hung, crashed, was not run) on aiotrio and
  is neither on the expected-failure list nor failing on stock asyncio.
- ``xfail``: failed, and is on the expected-failure list.
- ``env``: failed, and fails on the stock loop too (baseline): this
  machine's fault (e.g. no ``::1`` in /etc/hosts), not aiotrio's.
- ``skipped``: skipped by CPython's own skip decorators (reason kept).
- ``stock``: built a stock loop: not covered, never counted as passed.
- ``no loop``: passed without building any loop: not covered.
- ``n/a``: mode (b) only: the test's shape cannot run inside Trio (reason kept).

pass % = passed / (passed + failed + xfail + stock): what share of the tests
that exercise a loop ran on aiotrio and passed.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import scope

if TYPE_CHECKING:
    from .expectations import ExpectationSet

CATEGORIES = ("passed", "failed", "xfail", "env", "skipped", "stock", "no loop", "n/a")
FAILING = ("fail", "error", "timeout", "crash", "not-run")


@dataclass
class ModuleRun:
    """Everything one (module, mode) job produced."""

    module: str
    mode: str
    plan: list[str] = field(default_factory=list)
    out_of_scope: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    module_skip: str | None = None
    fixture_skip: str | None = None  # a setUpModule/setUpClass raised SkipTest
    errors: list[str] = field(default_factory=list)  # import/fixture/watchdog
    seconds: float = 0.0


@dataclass
class Verdict:
    category: str
    problem: str | None = None  # set when this test makes the run fail
    note: str | None = None  # skip or n/a reason, expectation reason


@dataclass
class ModuleSummary:
    module: str
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    built_aiotrio: int = 0
    built_stock: int = 0
    # (what: the module or a class, reason) -> number of tests out of scope
    out_of_scope: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)

    @property
    def in_scope(self) -> int:
        return sum(self.counts[c] for c in CATEGORIES)


def pass_rate(counts: collections.Counter[str]) -> float | None:
    exercised = sum(counts[c] for c in ("passed", "failed", "xfail", "stock"))
    return counts["passed"] / exercised if exercised else None


def classify(
    record: dict[str, Any],
    mode: str,
    expectations: ExpectationSet,
    baseline_failing: dict[str, str],
) -> Verdict:
    test_id = record["id"]
    outcome = record["outcome"]
    expected = expectations.find(test_id)
    if outcome == "skip":
        return Verdict("skipped", note=record.get("detail"))
    if mode == "b":
        if record.get("refused"):
            return Verdict("n/a", note=record["refused"])
        if not record.get("hosted_runners") and outcome not in FAILING:
            return Verdict("n/a", note="runs no asyncio code on a loop")
    if record.get("loop") == "stock":
        if expected is None:
            stock = ", ".join(record.get("loops", {}).get("stock", {}))
            return Verdict("stock", problem=f"ran on a stock loop ({stock}): injection hole")
        return Verdict("stock", note=expected.reason)
    if expected is not None and expected.kind == "stock":
        return Verdict(
            "passed" if outcome == "pass" else "failed",
            problem=f"no longer builds a stock loop: fix expected_failures.txt "
            f"(line {expected.line})",
        )
    if outcome in ("pass", "native-xfail"):
        if record.get("loop") == "none":
            return Verdict("no loop")
        if expected is not None and expected.kind in ("fail", "hang"):
            return Verdict(
                "passed",
                problem=f"passes now: remove it from expected_failures.txt (line {expected.line})",
            )
        return Verdict("passed")
    if expected is not None:
        return Verdict("xfail", note=expected.reason)
    if test_id in baseline_failing:
        return Verdict("env", note=f"fails on stock asyncio too: {baseline_failing[test_id]}")
    detail = (record.get("detail") or "").strip().splitlines()
    return Verdict("failed", problem=f"{outcome}: {detail[-1] if detail else ''}")


@dataclass
class RunSummary:
    """One Python, one mode."""

    python: str
    mode: str
    modules: dict[str, ModuleSummary] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (test id, problem)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    na_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0

    @property
    def totals(self) -> collections.Counter[str]:
        total: collections.Counter[str] = collections.Counter()
        for module in self.modules.values():
            total.update(module.counts)
        return total

    @property
    def built(self) -> tuple[int, int]:
        return (
            sum(m.built_aiotrio for m in self.modules.values()),
            sum(m.built_stock for m in self.modules.values()),
        )


def summarize(
    python: str,
    mode: str,
    runs: list[ModuleRun],
    expectations: ExpectationSet,
    baseline_failing: dict[str, str],
) -> RunSummary:
    summary = RunSummary(python, mode)
    for run in sorted(runs, key=lambda r: r.module):
        module = ModuleSummary(run.module)
        summary.modules[run.module] = module
        summary.seconds += run.seconds
        for test_id, reason in run.out_of_scope.items():
            module_name, cls, method = test_id.split(".")[:3]
            if module_name in scope.OUT_OF_SCOPE_MODULES:
                what = module_name
            elif f"{module_name}.{cls}" in scope.OUT_OF_SCOPE_CLASSES:
                what = f"{module_name}.{cls}"
            else:
                what = f"{module_name}.*.{method}"
            module.out_of_scope[(what, reason)] += 1
        if run.module_skip is not None:
            module.out_of_scope[(run.module, f"skipped at import: {run.module_skip}")] += 0
        for error in run.errors:
            summary.problems.append((run.module, error))
        for test_id in run.plan:
            record = run.records.get(test_id)
            if record is None:
                record = {
                    "id": test_id,
                    "outcome": "not-run",
                    "loop": "none",
                    "detail": "never started (a fixture failed or the module crashed)",
                }
            verdict = classify(record, mode, expectations, baseline_failing)
            summary.verdicts[test_id] = verdict
            module.counts[verdict.category] += 1
            loops = record.get("loops") or {}
            if loops.get("stock"):
                module.built_stock += 1
            elif loops.get("aiotrio"):
                module.built_aiotrio += 1
            if verdict.problem is not None:
                summary.problems.append((test_id, verdict.problem))
            if verdict.category == "n/a" and verdict.note:
                summary.na_reasons[verdict.note] += 1
    return summary


# -- rendering ----------------------------------------------------------------

_COLUMNS = ("passed", "failed", "xfail", "env", "skipped", "stock", "no loop")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def module_table(summary: RunSummary) -> str:
    columns = list(_COLUMNS) + (["n/a"] if summary.mode == "b" else [])
    header = ["module", "tests", *columns, "aiotrio loop", "stock loop", "pass %"]
    rows = []
    for name, module in summary.modules.items():
        if not module.in_scope:
            continue
        counts = module.counts
        rows.append(
            [
                name,
                str(module.in_scope),
                *(str(counts[c]) for c in columns),
                str(module.built_aiotrio),
                str(module.built_stock),
                _pct(pass_rate(counts)),
            ]
        )
    totals = summary.totals
    aio, stock = summary.built
    rows.append(
        [
            "**total**",
            str(sum(totals[c] for c in CATEGORIES)),
            *(str(totals[c]) for c in columns),
            str(aio),
            str(stock),
            f"**{_pct(pass_rate(totals))}**",
        ]
    )
    return _markdown_table(header, rows)


def out_of_scope_table(summary: RunSummary) -> str:
    rows = [
        [what, str(count), reason]
        for module in summary.modules.values()
        for (what, reason), count in sorted(module.out_of_scope.items())
    ]
    return _markdown_table(["module or class", "tests", "why out of scope"], rows)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])


def totals_line(summary: RunSummary) -> list[str]:
    totals = summary.totals
    aio, stock = summary.built
    return [
        summary.python,
        summary.mode,
        str(sum(totals[c] for c in CATEGORIES)),
        *(str(totals[c]) for c in (*_COLUMNS, "n/a")),
        str(aio),
        str(stock),
        _pct(pass_rate(totals)),
        "OK" if not summary.problems else f"{len(summary.problems)} problem(s)",
    ]


TOTALS_HEADER = [
    "python",
    "mode",
    "tests",
    *_COLUMNS,
    "n/a",
    "aiotrio loop",
    "stock loop",
    "pass %",
    "status",
]


def totals_table(summaries: list[RunSummary]) -> str:
    return _markdown_table(TOTALS_HEADER, [totals_line(s) for s in summaries])
