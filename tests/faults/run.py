"""The fault-injection matrix: scenario x mode x backend on this Python, each run a child process.

Usage (from the repository root)::

    python -m tests.faults.run [--form short|long] [--seed N] [--jobs N] [--json PATH]
                               [--only SUBSTRING] [--runs N]

Every run is a child process with a hard time limit: a hang is counted, never
waited on. Each run has its own seed (the base seed plus its index), printed
with any failure together with the command that reproduces it. The table goes
to stdout, the cells to ``--json``. Exit status 1 if any aiotrio cell had a
failure or a hang (stock asyncio's cells are the reference and never fail the
run). ``tests/faults/table.py`` merges the JSON of several Pythons.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .child import ChildResult, ensure_sigint_inherited, run_child

HERE = Path(__file__).resolve().parent
SCENARIO = str(HERE / "scenario.py")
MODES = ["open_loop", "loop_factory", "cli", "stock"]
BACKENDS = ["selector", "trio"]

SIGINT_LOADS = ["io", "bridges", "busy"]
RAISE_PLACES = [
    "callback",
    "timer",
    "task",
    "reader",
    "writer",
    "signal",
    "run_trio",
    "run_asyncio",
]
BRIDGES = [
    "run_asyncio",
    "aio_as_trio_fn",
    "aio_as_trio_cm",
    "aio_as_trio_iter",
    "run_trio",
    "trio_as_aio_fn",
    "trio_as_aio_cm",
    "trio_as_aio_iter",
]
#: Cells (scenario prefix) with a defect not fixed yet: their failures and
#: hangs are counted and printed but do not fail the run.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {
    # None open: the soak of 2026-12-01 (seed 6161, every Python, 50 runs per
    # Ctrl-C cell) hung and failed in no cell. An entry is ("scenario prefix", "mode" or "")
    # -> the reason printed with its cells' figures.
}

NEEDS_AIOTRIO = ("bridges", "run_trio", "run_asyncio", "checkpoints", "storm")


@dataclass
class Cell:
    """One scenario in one mode and backend, run `runs` times."""

    scenario: str
    mode: str
    backend: str
    runs: int
    timeout: float
    python: str = field(default_factory=lambda: "{}.{}".format(*sys.version_info[:2]))
    ok: int = 0
    failed: int = 0
    hung: int = 0
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.mode if self.mode == "stock" else f"{self.mode}/{self.backend}"


def build_cells(form: str, runs_override: int | None, only: str | None) -> list[Cell]:
    long = form == "long"
    sigint_runs = runs_override or (50 if long else 1)
    other_runs = runs_override or (5 if long else 1)
    cells: list[Cell] = []

    def add(scenario: str, runs: int, timeout: float, modes: list[str] = MODES) -> None:
        for mode in modes:
            if mode == "stock" and any(word in scenario for word in NEEDS_AIOTRIO):
                continue
            backends = BACKENDS
            if mode == "stock":
                backends = ["-"]
            elif not long and mode != "open_loop" and not scenario.startswith("sigint:"):
                backends = ["selector"]  # short form: the trio backend through open_loop
            for backend in backends:
                cells.append(Cell(scenario, mode, backend, runs, timeout))

    for load in SIGINT_LOADS:
        for times in ("once", "twice"):
            add(f"sigint:{load}:{times}", sigint_runs, 20)
    for place in RAISE_PLACES:
        for exc in ("kbi", "exit"):
            add(f"raise:{place}:{exc}", other_runs, 20)
    for bridge in BRIDGES:
        add(f"checkpoints:{bridge}", other_runs, 40, ["open_loop", "loop_factory"])
    add("storm", runs_override or (20 if long else 2), 40, ["open_loop", "loop_factory", "cli"])
    add(f"leaks:{500 if long else 100}", 1, 120)
    add(f"churn:{4000 if long else 800}", 1, 120)
    add("misuse", 1, 40, ["open_loop", "loop_factory", "cli"])
    if only:
        cells = [
            c for c in cells if any(word in f"{c.scenario} {c.label}" for word in only.split(","))
        ]
    return cells


def command(cell: Cell, seed: int) -> list[str]:
    args = [cell.scenario, cell.mode, str(seed)]
    if cell.mode == "cli":
        return ["-m", "aiotrio", SCENARIO, *args]
    return [SCENARIO, *args]


def interrupts(cell: Cell, seed: int) -> list[tuple[str, float]]:
    if not cell.scenario.startswith("sigint:"):
        return []
    rng = random.Random(seed)
    first = [("READY", rng.uniform(0, 0.3))]
    if cell.scenario.endswith(":twice"):
        return [*first, ("CLEANING", rng.uniform(0, 0.2))]
    return first


_BAD_SIGNS = ("AssertionError", "was destroyed but it is pending", "TrioInternalError")


def judge(cell: Cell, result: ChildResult) -> str | None:
    """None if the run behaved as promised, else what went wrong."""
    if result.hung:
        return "hung"
    for sign in _BAD_SIGNS:
        if sign in result.stderr:
            return f"stderr has {sign!r}"
    kind = cell.scenario.split(":")[0]
    if kind == "sigint" or (kind == "raise" and cell.scenario.endswith(":kbi")):
        if "READY" not in result.stdout and kind == "sigint":
            return "never got ready"
        return None if result.interrupted else f"exit {result.returncode}, not KeyboardInterrupt"
    if kind == "raise":
        return None if result.returncode == 3 else f"exit {result.returncode}, not SystemExit(3)"
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return f"exit {result.returncode} without a RESULT line"
    verdict = json.loads(lines[-1][len("RESULT ") :])
    if not verdict["ok"]:
        return "; ".join(verdict["problems"][:5])
    if result.returncode != 0:
        return f"exit {result.returncode}"
    return None


def run_one(cell: Cell, seed: int) -> tuple[Cell, int, ChildResult]:
    env = {"AIOTRIO_READINESS": cell.backend} if cell.backend != "-" else {}
    result = run_child(
        command(cell, seed), timeout=cell.timeout, interrupts=interrupts(cell, seed), env=env
    )
    return cell, seed, result


def render(cells: list[Cell]) -> str:
    """A Markdown table: one row per scenario, one column per mode/backend."""
    columns: list[str] = []
    for cell in cells:
        if cell.label not in columns:
            columns.append(cell.label)
    rows: dict[str, dict[str, Cell]] = {}
    for cell in cells:
        rows.setdefault(cell.scenario, {})[cell.label] = cell
    lines = [
        "| scenario | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for scenario, by_label in rows.items():
        entries = []
        for column in columns:
            cell = by_label.get(column)
            entries.append("" if cell is None else figure(cell))
        lines.append(f"| {scenario} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def known_defect(cell: Cell) -> str | None:
    for (prefix, mode), reason in KNOWN_DEFECTS.items():
        if (
            cell.scenario.startswith(prefix)
            and cell.mode != "stock"
            and (not mode or cell.mode == mode)
        ):
            return reason
    return None


def figure(cell: Cell) -> str:
    """``ok/runs``, plus failures (F) and hangs (H) when there were any."""
    text = f"{cell.ok}/{cell.runs}"
    if cell.failed:
        text += f" {cell.failed}F"
    if cell.hung:
        text += f" {cell.hung}H"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--form", choices=["short", "long"], default="short")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (overrides the form)")
    parser.add_argument("--only", default=None, help="comma-separated substrings of scenario/mode")
    parser.add_argument("--json", default=None)
    options = parser.parse_args(argv)
    ensure_sigint_inherited()
    seed = options.seed if options.seed is not None else int(time.time()) % 100000
    cells = build_cells(options.form, options.runs, options.only)
    python = "{}.{}".format(*sys.version_info[:2])
    total = sum(c.runs for c in cells)
    print(
        f"fault matrix: Python {python}, form {options.form}, seed {seed}, "
        f"{len(cells)} cells, {total} runs, {options.jobs} at a time",
        flush=True,
    )
    started = time.monotonic()
    jobs = []
    index = 0
    for cell in cells:
        for _ in range(cell.runs):
            jobs.append((cell, seed + index))
            index += 1
    random.Random(seed).shuffle(jobs)  # spread slow scenarios over the run
    with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
        for cell, run_seed, result in pool.map(lambda job: run_one(*job), jobs):
            cell.seconds += result.seconds
            problem = judge(cell, result)
            if problem is None:
                cell.ok += 1
                continue
            if result.hung:
                cell.hung += 1
            else:
                cell.failed += 1
            repro = "python " + " ".join(command(cell, run_seed))
            if cell.backend != "-":
                repro = f"AIOTRIO_READINESS={cell.backend} {repro}"
            cell.failures.append(
                {
                    "seed": run_seed,
                    "problem": problem,
                    "repro": repro,
                    "stderr": result.stderr[-6000:],
                }
            )
            print(
                f"  {'HANG' if result.hung else 'FAIL'} {cell.scenario} {cell.label} "
                f"seed {run_seed}: {problem[:300]}\n    repro: {repro}",
                flush=True,
            )
    elapsed = time.monotonic() - started
    print()
    print(render(cells))
    print()
    ours = [c for c in cells if c.mode != "stock"]
    bad = sum(c.failed + c.hung for c in ours if known_defect(c) is None)
    known = sum(c.failed + c.hung for c in ours if known_defect(c) is not None)
    if known:
        print(f"{known} of the failures/hangs are in cells with a known defect:")
        for reason in sorted({known_defect(c) for c in ours if c.failed + c.hung} - {None}):
            print(f"  - {reason}")
    print(
        f"Python {python}: {sum(c.runs for c in ours)} aiotrio runs, "
        f"{sum(c.failed for c in ours)} failed, {sum(c.hung for c in ours)} hung; "
        f"stock asyncio: {sum(c.runs for c in cells if c.mode == 'stock')} runs, "
        f"{sum(c.failed for c in cells if c.mode == 'stock')} failed, "
        f"{sum(c.hung for c in cells if c.mode == 'stock')} hung; "
        f"{elapsed:.0f} s (seed {seed})"
    )
    if options.json:
        Path(options.json).parent.mkdir(parents=True, exist_ok=True)
        Path(options.json).write_text(
            json.dumps(
                {
                    "python": python,
                    "form": options.form,
                    "seed": seed,
                    "seconds": elapsed,
                    "cells": [asdict(c) for c in cells],
                },
                indent=1,
            )
        )
    return 1 if bad else 0


if __name__ == "__main__":
    os.chdir(HERE.parent.parent)
    sys.exit(main())
