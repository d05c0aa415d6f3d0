"""The text report: one table of figures and ratios per run, then the targets."""

from __future__ import annotations

from typing import Any

from families import BYTES, FAMILIES, FRACTION, GUEST_BRIDGE, GUEST_WORK, READINESS
from impls import (
    AIOTRIO,
    AIOTRIO_FACTORY,
    AIOTRIO_OPEN_LOOP,
    AIOTRIO_TRIO_READINESS,
    ALL,
    ASYNCIO,
    GUEST,
    GUEST_ASYNCIO,
    GUEST_FAMILY,
    GUEST_UVLOOP,
    TRIO,
    TRIO_ASYNCIO,
)
from targets import Check, describe, ratio_key

SHORT = {
    ASYNCIO: "asyncio",
    "uvloop": "uvloop",
    TRIO_ASYNCIO: "trio-aio",
    AIOTRIO_FACTORY: "at:fact",
    AIOTRIO_OPEN_LOOP: "at:open",
    TRIO: "trio.run",
    GUEST_ASYNCIO: "g:aio",
    GUEST_UVLOOP: "g:uvl",
    AIOTRIO_TRIO_READINESS: "at:trio-rd",
}
#: Figure groups shown in tables of their own, not in the main one.
OWN_TABLES = (GUEST_WORK, GUEST_BRIDGE, READINESS)
RATIOS = [(impl, base) for base in (ASYNCIO, TRIO_ASYNCIO) for impl in AIOTRIO]


def format_value(value: float, kind: str) -> str:
    if kind == BYTES:
        return f"{value / 2**20:.1f}MB"
    if kind == FRACTION:
        return f"{value:.0%}"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value / 1e-9:.3g}ns"


def format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def table(result: dict[str, Any]) -> str:
    figures = result["figures"]
    header = (
        f"{'#':>3} {'benchmark':<42}"
        + "".join(f"{SHORT[i]:>9}" for i in ALL)
        + "".join(f"{SHORT[i] + '/' + SHORT[b][:4]:>13}" for i, b in RATIOS)
        + f"{'noise':>7}"
    )
    lines = [header, "-" * len(header)]
    for family in FAMILIES:
        for figure in family.figures:
            entry = figures.get(figure.key)
            if entry is None or figure.group in OWN_TABLES:
                continue  # no figure, or one of guest_table's / readiness_table's
            cells = []
            for impl in ALL:
                value = entry["values"].get(impl)
                cells.append(f"{format_value(value['median'], figure.kind) if value else '-':>9}")
            ratios = [
                f"{format_ratio(entry['ratios'].get(ratio_key(i, b))):>13}" for i, b in RATIOS
            ]
            spreads = [v["spread"] for v in entry["values"].values() if v]
            noise = f"{max(spreads):.0%}" if spreads else "-"
            lines.append(
                f"{family.number:>3} {figure.label:<42}"
                + "".join(cells)
                + "".join(ratios)
                + f"{noise:>7}"
            )
    return "\n".join(lines)


def guest_table(result: dict[str, Any]) -> str | None:
    """Family 13: guest runs against trio.run (Trio's work) and open_loop() (bridges)."""
    rows = [
        (family.number, figure)
        for family in FAMILIES
        for figure in family.figures
        if figure.group in (GUEST_WORK, GUEST_BRIDGE) and figure.key in result["figures"]
    ]
    if not rows:
        return None
    header = (
        f"{'#':>3} {'guest mode':<42}"
        + "".join(f"{SHORT[i]:>10}" for i in GUEST_FAMILY)
        + "".join(f"{SHORT[i] + '/base':>13}" for i in GUEST)
        + f"{'noise':>7}"
    )
    lines = [header, "-" * len(header)]
    for number, figure in rows:
        entry = result["figures"][figure.key]
        cells = []
        for impl in GUEST_FAMILY:
            value = entry["values"].get(impl)
            cells.append(f"{format_value(value['median'], figure.kind) if value else '-':>10}")
        base = TRIO if figure.group == GUEST_WORK else AIOTRIO_OPEN_LOOP
        ratios = [f"{format_ratio(entry['ratios'].get(ratio_key(i, base))):>13}" for i in GUEST]
        spreads = [v["spread"] for v in entry["values"].values() if v]
        noise = f"{max(spreads):.0%}" if spreads else "-"
        lines.append(
            f"{number:>3} {figure.label:<42}" + "".join(cells) + "".join(ratios) + f"{noise:>7}"
        )
    lines.append(
        "base: trio.run for Trio's work, aiotrio open_loop() for the bridges"
        " (paired within-round ratios)."
    )
    return "\n".join(lines)


def readiness_table(result: dict[str, Any]) -> str | None:
    """Family 14: open_loop() with the trio readiness backend against the selector one."""
    rows = [
        (family.number, figure)
        for family in FAMILIES
        for figure in family.figures
        if figure.group == READINESS and figure.key in result["figures"]
    ]
    if not rows:
        return None
    header = (
        f"{'#':>3} {'open_loop() readiness backend':<42}"
        + f"{'selector':>10}{'trio':>10}{'trio/sel':>10}{'noise':>7}"
    )
    lines = [header, "-" * len(header)]
    for number, figure in rows:
        entry = result["figures"][figure.key]
        cells = []
        for impl in (AIOTRIO_OPEN_LOOP, AIOTRIO_TRIO_READINESS):
            value = entry["values"].get(impl)
            cells.append(f"{format_value(value['median'], figure.kind) if value else '-':>10}")
        ratio = entry["ratios"].get(ratio_key(AIOTRIO_TRIO_READINESS, AIOTRIO_OPEN_LOOP))
        spreads = [v["spread"] for v in entry["values"].values() if v]
        noise = f"{max(spreads):.0%}" if spreads else "-"
        lines.append(
            f"{number:>3} {figure.label:<42}"
            + "".join(cells)
            + f"{format_ratio(ratio):>10}"
            + f"{noise:>7}"
        )
    lines.append("trio/sel: paired within-round ratio, each backend in a worker of its own.")
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    meta = result["meta"]
    checks: list[Check] = result["checks"]
    missed = [c for c in checks if not c["ok"]]
    parts = [
        f"Python {meta['python']}: {meta['rounds']} interleaved rounds, "
        f"scale {meta['scale']}, {meta['duration']:.0f} s, load average "
        f"{meta['load_before']:.2f} -> {meta['load_after']:.2f} on {meta['cpus']} CPUs",
        "  "
        + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items())
        + f"; aiotrio source {meta['aiotrio_source']}",
        "  timed passes not preempted by the OS: "
        + ", ".join(f"{SHORT[k]} {v:.0%}" for k, v in meta["clean_passes"].items()),
    ]
    for impl, reason in meta["unavailable"].items():
        parts.append(f"  {impl} unavailable: {reason}")
    own = [t for t in (guest_table(result), readiness_table(result)) if t]
    parts += [
        table(result),
        *own,
        "Figures: median over rounds of each run's median of passes. Ratios: median of"
        " within-round ratios (< 1 means aiotrio is faster). noise: worst (max-min)/median.",
        f"Targets: {len(checks) - len(missed)} of {len(checks)} met.",
        *(describe(c) for c in missed),
    ]
    return "\n".join(parts)
