"""Aggregating repeated runs: medians, paired ratios, spread.

Each round runs every implementation once, back to back. A ratio is the
median over rounds of the within-round ratio, so noise that lasts longer than
one round (another process hogging a core) largely cancels.
"""

from __future__ import annotations

import statistics
from typing import TypedDict

# samples[impl][round] is one figure's value from one worker run (None: failed).
Samples = dict[str, list[float | None]]


class Cell(TypedDict):
    median: float
    spread: float  # (max - min) / median over rounds: how noisy this cell was
    samples: list[float | None]


def cell(values: list[float | None]) -> Cell | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    median = statistics.median(present)
    spread = (max(present) - min(present)) / median if median else 0.0
    return {"median": median, "spread": spread, "samples": values}


def paired_ratio(numerator: list[float | None], denominator: list[float | None]) -> float | None:
    """Median over rounds of numerator/denominator, using rounds where both ran."""
    ratios = [
        a / b
        for a, b in zip(numerator, denominator, strict=False)
        if a is not None and b is not None and b > 0
    ]
    return statistics.median(ratios) if ratios else None
