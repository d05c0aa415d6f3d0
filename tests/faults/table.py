"""Merge the fault matrix's JSON files (one per Python) into the README's tables.

Usage: python -m tests.faults.table build/faults/*.json
Prints a summary (aiotrio hangs/failures per Python and mode, stock asyncio
next to it) and, per Python, the scenario x mode/backend table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .run import MODES, Cell, render


def load(paths: list[str]) -> list[dict[str, Any]]:
    return sorted(
        (json.loads(Path(p).read_text()) for p in paths),
        key=lambda run: tuple(int(n) for n in run["python"].split(".")),
    )


def summary(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| Python | " + " | ".join(MODES) + " |",
        "|---|" + "---|" * len(MODES),
    ]
    for run in runs:
        entries = []
        for mode in MODES:
            cells = [c for c in run["cells"] if c["mode"] == mode]
            total = sum(c["runs"] for c in cells)
            hung = sum(c["hung"] for c in cells)
            failed = sum(c["failed"] for c in cells)
            entries.append(f"{total} runs: {hung} hung, {failed} failed" if total else "")
        lines.append(f"| {run['python']} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    runs = load(paths)
    if not runs:
        print("no results")
        return 1
    forms = {run["form"] for run in runs}
    seeds = ", ".join(f"{run['python']}: {run['seed']}" for run in runs)
    print(f"Fault matrix ({'/'.join(sorted(forms))} form; seeds {seeds})\n")
    print(summary(runs))
    for run in runs:
        cells = [
            Cell(**{k: v for k, v in c.items() if k in Cell.__dataclass_fields__})
            for c in run["cells"]
        ]
        print(f"\nPython {run['python']} ({run['seconds']:.0f} s):\n")
        print(render(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
