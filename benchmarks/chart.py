"""Draw the results as one PNG: usage ``python chart.py OUT.png RESULT.json...``.

One row per Python: time relative to stock asyncio (1-9 and memory), bridge
calls in microseconds (10), and the fairness p99 lateness (11).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

from families import BRIDGE, CORE, FAIR, FAMILIES, IO, LATENCY, MEMORY, REFERENCE
from impls import AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP, ASYNCIO, LABELS, TRIO_ASYNCIO
from targets import FAIR_P99, WITHIN_ASYNCIO, ratio_key

COLORS = {
    "uvloop": "#999999",
    TRIO_ASYNCIO: "#d95f02",
    AIOTRIO_FACTORY: "#1b9e77",
    AIOTRIO_OPEN_LOOP: "#7570b3",
}
RELATIVE = ("uvloop", TRIO_ASYNCIO, AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP)
TRIO_SIDE = (TRIO_ASYNCIO, AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP)


def _figures(groups: tuple[str, ...], kind: str | None = None) -> list[tuple[str, str]]:
    return [
        (f.key, f"{family.number}. {f.label}")
        for family in FAMILIES
        for f in family.figures
        if f.group in groups and kind in (None, f.kind)
    ]


def _bars(ax: Any, rows: list[tuple[str, str]], impls: tuple[str, ...], value: Any) -> None:
    """Horizontal grouped bars: one group per row, one bar per implementation."""
    height = 0.8 / len(impls)
    for n, impl in enumerate(impls):
        ys, xs = [], []
        for y, (key, _) in enumerate(rows):
            x = value(key, impl)
            if x is not None:
                ys.append(y + (n - (len(impls) - 1) / 2) * height)
                xs.append(x)
        ax.barh(
            ys, xs, height=height, color=COLORS.get(impl, "#444444"), label=LABELS.get(impl, impl)
        )
    ax.set_yticks(range(len(rows)), [label for _, label in rows], fontsize=7)
    ax.invert_yaxis()


def _row(axes: Any, result: dict[str, Any]) -> None:
    figures = result["figures"]
    python = result["meta"]["python"]

    def ratio(key: str, impl: str) -> float | None:
        entry = figures.get(key)
        return entry["ratios"].get(ratio_key(impl, ASYNCIO)) if entry else None

    def median(scale: float) -> Any:
        def get(key: str, impl: str) -> float | None:
            entry = figures.get(key)
            cell = entry["values"].get(impl) if entry else None
            return cell["median"] / scale if cell else None

        return get

    rel, bridge, fair = axes
    rows = [r for r in _figures((CORE, IO, MEMORY)) if r[0] in figures]
    _bars(rel, rows, RELATIVE, ratio)
    rel.set_xscale("log")
    rel.axvline(1.0, color="black", linewidth=0.8)
    rel.axvline(WITHIN_ASYNCIO, color="red", linestyle="--", linewidth=0.8)
    missing = ", ".join(LABELS.get(i, i) for i in result["meta"]["unavailable"])
    note = f"; not available: {missing}" if missing else ""
    rel.set_title(f"Python {python}: time / stock asyncio (log; lower is better{note})", fontsize=9)
    rel.legend(fontsize=7, loc="lower right")

    reference = ("trio_sleep0", "trio.sleep(0)")
    rows = [r for r in [*_figures((BRIDGE,)), reference] if r[0] in figures]
    _bars(bridge, rows, TRIO_SIDE, median(1e-6))
    bridge.set_title("10. cross-calls, us per call", fontsize=9)

    rows = [r for r in _figures((FAIR, REFERENCE), LATENCY) if r[0] in figures]
    _bars(fair, rows, TRIO_SIDE, median(1e-3))
    fair.set_xscale("log")
    fair.axvline(FAIR_P99 * 1e3, color="red", linestyle="--", linewidth=0.8)
    fair.set_title("11. fairness: 1 ms sleep lateness, ms (log)", fontsize=9)


def draw(paths: list[Path], out: Path) -> Path:
    results = [json.loads(path.read_text()) for path in paths]
    fig, axes = plt.subplots(
        len(results),
        3,
        figsize=(18, 7 * len(results)),
        squeeze=False,
        gridspec_kw={"width_ratios": [2.2, 1, 1]},
    )
    for row, result in zip(axes, results, strict=True):
        _row(row, result)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw([Path(p) for p in sys.argv[2:]], Path(sys.argv[1])))
