"""A Markdown summary of one or more runs, for the top-level README.

Usage: python benchmarks/summary.py results/bench-3.11.json results/bench-3.14.json

One row per figure; per Python: the figures of stock asyncio, trio-asyncio
(where it imports) and aiotrio inside open_loop(), and the ratio aiotrio /
asyncio under loop_factory and inside open_loop(). Then tables of their own for
the guest runs (13) and the readiness backends (14), and each run's targets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from families import FAMILIES, GUEST_BRIDGE, GUEST_WORK, READINESS
from impls import (
    AIOTRIO_FACTORY,
    AIOTRIO_OPEN_LOOP,
    AIOTRIO_TRIO_READINESS,
    ASYNCIO,
    GUEST_ASYNCIO,
    GUEST_UVLOOP,
    TRIO,
    TRIO_ASYNCIO,
)
from report import OWN_TABLES, format_value
from targets import ratio_key

if TYPE_CHECKING:
    from collections.abc import Callable


def _figure(entry: dict[str, Any] | None, impl: str, kind: str) -> str:
    value = entry["values"].get(impl) if entry else None
    return format_value(value["median"], kind) if value else "-"


def _ratio(entry: dict[str, Any] | None, impl: str, base: str) -> float | None:
    ratio: float | None = entry["ratios"].get(ratio_key(impl, base)) if entry else None
    return ratio


def _has_peer(run: dict[str, Any]) -> bool:
    return TRIO_ASYNCIO not in run["meta"]["unavailable"]


def _cells(entry: dict[str, Any] | None, kind: str, peer: bool) -> list[str]:
    factory = _ratio(entry, AIOTRIO_FACTORY, ASYNCIO)
    open_loop = _ratio(entry, AIOTRIO_OPEN_LOOP, ASYNCIO)
    both = "-" if factory is None or open_loop is None else f"{factory:.2f} / {open_loop:.2f}"
    cells = [_figure(entry, ASYNCIO, kind)]
    if peer:
        cells.append(_figure(entry, TRIO_ASYNCIO, kind))
    return [*cells, _figure(entry, AIOTRIO_OPEN_LOOP, kind), both]


def render(runs: list[dict[str, Any]]) -> str:
    pythons = [run["meta"]["python"].rsplit(".", 1)[0] for run in runs]
    header = ["#", "benchmark"]
    for python, run in zip(pythons, runs, strict=True):
        header.append(f"{python} asyncio")
        if _has_peer(run):
            header.append(f"{python} trio-asyncio")
        header += [f"{python} aiotrio", f"{python} ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for family in FAMILIES:
        for figure in family.figures:
            if figure.group in OWN_TABLES:
                continue  # their own tables, below
            entries = [run["figures"].get(figure.key) for run in runs]
            if not any(entries):
                continue
            row = [str(family.number), figure.label]
            for run, entry in zip(runs, entries, strict=True):
                row += _cells(entry, figure.kind, _has_peer(run))
            lines.append("| " + " | ".join(row) + " |")
    for own in (_guest_table(runs, pythons), _readiness_table(runs, pythons)):
        if own:
            lines += ["", *own]
    lines.append("")
    for run in runs:
        checks = run["checks"]
        met = sum(check["ok"] for check in checks)
        misses = sorted({check["figure"] for check in checks if not check["ok"]})
        missed = f"; missed: {', '.join(misses)}" if misses else ""
        meta = run["meta"]
        lines.append(
            f"- Python {meta['python']}: {met} of {len(checks)} targets met{missed}"
            f" ({meta['rounds']} rounds, load {meta['load_before']:.2f} -> "
            f"{meta['load_after']:.2f} on {meta['cpus']} CPUs, {meta['date']})."
        )
    return "\n".join(lines) + "\n"


def _paired_table(
    runs: list[dict[str, Any]],
    pythons: list[str],
    *,
    title: str,
    columns: tuple[str, ...],
    groups: tuple[str, ...],
    base_of: Callable[[str], str],
    compared: tuple[str, ...],
    footnote: str,
) -> list[str]:
    """A family's own table: per Python, its base figure, then each of `compared`
    with its ratio to the base (`base_of` the figure's group) in brackets.

    `columns` names the base column and then one per `compared`; no rows, no table.
    """
    header = ["#", title]
    for python in pythons:
        header += [f"{python} {column}" for column in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for family in FAMILIES:
        for figure in family.figures:
            if figure.group not in groups:
                continue
            entries = [run["figures"].get(figure.key) for run in runs]
            if not any(entries):
                continue
            base = base_of(figure.group)
            row = [str(family.number), figure.label]
            for entry in entries:
                row.append(_figure(entry, base, figure.kind))
                for impl in compared:
                    ratio = _ratio(entry, impl, base)
                    shown = _figure(entry, impl, figure.kind)
                    row.append(shown if ratio is None else f"{shown} ({ratio:.2f}x)")
            lines.append("| " + " | ".join(row) + " |")
    if len(lines) == 2:
        return []
    return [*lines, "", footnote]


def _guest_table(runs: list[dict[str, Any]], pythons: list[str]) -> list[str]:
    """Family 13: Trio as a guest of stock asyncio / uvloop; ratios to trio.run / open_loop()."""
    return _paired_table(
        runs,
        pythons,
        title="guest mode",
        columns=("base", "guest on asyncio", "guest on uvloop"),
        groups=(GUEST_WORK, GUEST_BRIDGE),
        base_of=lambda group: TRIO if group == GUEST_WORK else AIOTRIO_OPEN_LOOP,
        compared=(GUEST_ASYNCIO, GUEST_UVLOOP),
        footnote="*base*: `trio.run` for Trio's own work, `aiotrio.open_loop()` for the bridge"
        " calls; in brackets: guest / base, paired within rounds.",
    )


def _readiness_table(runs: list[dict[str, Any]], pythons: list[str]) -> list[str]:
    """Family 14: open_loop() with the trio readiness backend; ratio to the selector one."""
    return _paired_table(
        runs,
        pythons,
        title="open_loop() readiness backend",
        columns=("selector", "trio"),
        groups=(READINESS,),
        base_of=lambda _: AIOTRIO_OPEN_LOOP,
        compared=(AIOTRIO_TRIO_READINESS,),
        footnote='*selector*: `aiotrio.open_loop(readiness="selector")` (the default); *trio*:'
        ' `readiness="trio"`, the portable backend; in brackets: trio / selector, paired'
        " within rounds.",
    )


def main() -> None:
    runs = [json.loads(Path(path).read_text()) for path in sys.argv[1:]]
    sys.stdout.write(render(runs))


if __name__ == "__main__":
    main()
