"""Run the benchmark suite for the current Python and report.

Usage: python benchmarks/run.py [--rounds N] [--quick] [--only 1,6,mem] [--out DIR]

Every (implementation, family) measurement runs in a fresh worker process
(trio-asyncio and uvloop patch asyncio when imported). A *round* runs every
family once for every implementation, in a rotated order; figures are
medians over rounds, and ratios are medians of within-round ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stats
from families import Family, select
from impls import (
    AIOTRIO_OPEN_LOOP,
    AIOTRIO_TRIO_READINESS,
    ALL,
    ASYNCIO,
    GUEST,
    TRIO,
    TRIO_ASYNCIO,
)
from launcher import Launcher
from report import render
from targets import check_all, ratio_key

HERE = Path(__file__).resolve().parent


def probe(launcher: Launcher, impls: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(versions of usable implementations, reasons for unusable ones)."""
    versions, unavailable = {}, {}
    for impl in impls:
        answer = launcher.run(["--probe", impl], impl)
        if "error" in answer:
            unavailable[impl] = answer["error"]
        else:
            versions[impl] = answer["version"]
    return versions, unavailable


@dataclass
class Measurements:
    #: samples[figure][impl]: one value per round (None where it failed).
    samples: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Wall seconds spent per "module impl", to see where the time goes.
    walls: dict[str, float] = field(default_factory=dict)
    #: Per impl: [timed passes not preempted by the OS, all timed passes].
    passes: dict[str, list[int]] = field(default_factory=dict)


def measure(
    launcher: Launcher,
    families: tuple[Family, ...],
    impls: list[str],
    rounds: int,
    spawn: bool,
) -> Measurements:
    found = Measurements()
    for family in families:
        for impl in family.impls:
            if impl in impls:
                for figure in family.figures:
                    found.samples.setdefault(figure.key, {})[impl] = []
    for round_no in range(rounds):
        started = time.monotonic()
        for index, family in enumerate(families):
            if family.max_repeat is not None and round_no >= family.max_repeat:
                continue
            order = [i for i in family.impls if i in impls]
            # Rotate the order each round so no implementation always goes first.
            shift = (round_no + index) % len(order) if order else 0
            for impl in order[shift:] + order[:shift]:
                answer = launcher.run([family.module, impl], impl, spawn=spawn or family.spawn)
                name = f"{family.module} {impl}"
                found.walls[name] = found.walls.get(name, 0.0) + answer["wall"]
                if "error" in answer:
                    found.errors.append(f"round {round_no + 1} {name}: {answer['error']}")
                counts = found.passes.setdefault(impl, [0, 0])
                for n, count in enumerate(answer.get("passes", (0, 0))):
                    counts[n] += count
                got = answer.get("figures", {})
                for figure in family.figures:
                    found.samples[figure.key][impl].append(got.get(figure.key))
        print(
            f"  round {round_no + 1}/{rounds}: {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return found


def aggregate(samples: dict[str, dict[str, list[float | None]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for key, by_impl in samples.items():
        values = {impl: stats.cell(vals) for impl, vals in by_impl.items()}
        ratios: dict[str, float | None] = {}
        for impl, vals in by_impl.items():
            # Guest runs compare with trio.run (Trio's work) and open_loop() (bridges);
            # the trio readiness backend with open_loop()'s selector backend.
            if impl in GUEST:
                bases: tuple[str, ...] = (TRIO, AIOTRIO_OPEN_LOOP)
            elif impl == AIOTRIO_TRIO_READINESS:
                bases = (AIOTRIO_OPEN_LOOP,)
            else:
                bases = (ASYNCIO, TRIO_ASYNCIO)
            for base in bases:
                if impl != base and base in by_impl:
                    ratios[ratio_key(impl, base)] = stats.paired_ratio(vals, by_impl[base])
            if key.startswith("bridge_") and "trio_sleep0" in samples:
                reference = samples["trio_sleep0"].get(impl)
                if reference:
                    ratios[f"{impl}/trio.sleep(0)"] = stats.paired_ratio(vals, reference)
            if key == "idle_asyncio_wakeup" and "idle_trio_wakeup" in samples:
                reference = samples["idle_trio_wakeup"].get(impl)
                if reference:
                    ratios[f"{impl}/trio.sleep"] = stats.paired_ratio(vals, reference)
        figures[key] = {"values": values, "ratios": ratios}
    return figures


def source_fingerprint() -> str:
    """A hash of src/aiotrio/*.py: which state of the core was measured."""
    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "src" / "aiotrio").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# glibc moves its mmap threshold up the first time a large mmapped block is
# freed, so whether each 256 KiB recv() buffer costs mmap+mremap+munmap or
# comes from the heap depends on what the process allocated before: the TCP
# echo figures of one implementation flipped between 27 and 57 us (64 B) from
# one worker to the next. Fixed thresholds give every worker the same allocator.
PINNED_MALLOC = "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE", "1")),
        help="multiplies every workload (pass length, counts)",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds at scale 0.3")
    parser.add_argument("--only", help="comma-separated family numbers or names")
    parser.add_argument("--impls", default=",".join((*ALL, TRIO, *GUEST, AIOTRIO_TRIO_READINESS)))
    parser.add_argument(
        "--spawn", action="store_true", help="start every worker as a new interpreter (slower)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.scale = 2, 0.3
    families = select(args.only.split(",") if args.only else None)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / f"bench-{python}.log"
    env = {
        "BENCH_SCALE": str(args.scale),
        "PYTHONHASHSEED": "0",
        "GLIBC_TUNABLES": PINNED_MALLOC,
    }
    print(
        f"Python {python}: benchmarking (worker errors go to {log_path})",
        file=sys.stderr,
        flush=True,
    )
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with log_path.open("w") as log, Launcher(env, log) as launcher:
        versions, unavailable = probe(launcher, args.impls.split(","))
        found = measure(launcher, families, list(versions), args.rounds, args.spawn)
    figures = aggregate(found.samples)
    result: dict[str, Any] = {
        "meta": {
            "python": sys.version.split()[0],
            "rounds": args.rounds,
            "scale": args.scale,
            "spawn": args.spawn,
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "duration": time.monotonic() - started,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": versions,
            "aiotrio_source": source_fingerprint(),
            "unavailable": unavailable,
            "errors": found.errors,
            "clean_passes": {
                impl: clean / total for impl, (clean, total) in found.passes.items() if total
            },
            "worker_seconds": found.walls,
        },
        "figures": figures,
    }
    result["checks"] = check_all(figures)
    path = args.out / f"bench-{python}.json"
    # NaN is not JSON; a figure with no value is null.
    path.write_text(json.dumps(_finite(result), indent=1))
    print(render(result))
    for error in found.errors:
        print(f"  error: {error}")
    print(f"wrote {path}")
    try:
        import chart
    except ImportError as exc:  # matplotlib missing: the figures are still written
        print(f"no chart: {exc}")
    else:
        print(f"wrote {chart.draw([path], args.out / f'bench-{python}.png')}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
