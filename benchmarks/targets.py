"""The issue's targets, checked against one run's aggregated figures."""

from __future__ import annotations

from typing import Any, TypedDict

from families import (
    BRIDGE,
    CORE,
    FAIR,
    FAIR_THROUGHPUT,
    FAMILIES,
    GUEST_WORK,
    IDLE,
    IO,
    MEMORY,
    READINESS,
)
from impls import (
    AIOTRIO,
    AIOTRIO_OPEN_LOOP,
    AIOTRIO_TRIO_READINESS,
    ASYNCIO,
    GUEST,
    LABELS,
    TRIO,
    TRIO_ASYNCIO,
)

WITHIN_ASYNCIO = 1.05  # 1-9: aiotrio / asyncio at most this
FASTER_THAN_PEER_CORE = 4.0  # 1-5: trio-asyncio / aiotrio at least this
FASTER_THAN_PEER_BRIDGE = 3.0  # 10
BRIDGE_ABSOLUTE = 10e-6  # 10: a bridge call under this...
BRIDGE_VS_SLEEP0 = 3.0  # ...or within this many trio.sleep(0)
FAIR_P99 = 2e-3  # 11
FAIR_P99_UNPREEMPTED = 100e-6  # 11: the loops' own share of the p99
FAIR_THROUGHPUT_KEPT = 0.97  # 11
IDLE_VS_TRIO = 1.2  # 12: CPU per asyncio wake-up / per trio.sleep wake-up
MEMORY_WITHIN = 1.2
GUEST_WITHIN_TRIO = 1.15  # 13: Trio's own work in a guest run / trio.run at most this
# 14: an echo round trip inside open_loop() with the portable readiness backend
# (Trio's per-fd waits) / the same with the selector backend, at most this.
TRIO_READINESS_WITHIN = 1.2


class Check(TypedDict):
    figure: str
    impl: str
    rule: str
    value: float
    ok: bool


def ratio_key(impl: str, base: str) -> str:
    return f"{impl}/{base}"


def check_all(figures: dict[str, Any]) -> list[Check]:
    """Every target that applies to the measured figures (missing data: skipped)."""
    checks: list[Check] = []

    def add(key: str, impl: str, rule: str, value: float | None, ok: bool) -> None:
        if value is not None:
            checks.append({"figure": key, "impl": impl, "rule": rule, "value": value, "ok": ok})

    groups = {f.key: f.group for family in FAMILIES for f in family.figures}
    for key, entry in figures.items():
        group = groups.get(key)
        ratios = entry["ratios"]
        for impl in AIOTRIO:
            vs_asyncio = ratios.get(ratio_key(impl, ASYNCIO))
            vs_peer = ratios.get(ratio_key(impl, TRIO_ASYNCIO))
            value = entry["values"].get(impl)
            if group in (CORE, IO) and vs_asyncio is not None:
                add(
                    key,
                    impl,
                    f"/asyncio <= {WITHIN_ASYNCIO}",
                    vs_asyncio,
                    vs_asyncio <= WITHIN_ASYNCIO,
                )
            if group == CORE and vs_peer:
                speedup = 1 / vs_peer
                add(
                    key,
                    impl,
                    f"speedup vs trio-asyncio >= {FASTER_THAN_PEER_CORE}",
                    speedup,
                    speedup >= FASTER_THAN_PEER_CORE,
                )
            if group == MEMORY and vs_asyncio is not None:
                add(
                    key,
                    impl,
                    f"/asyncio <= {MEMORY_WITHIN}",
                    vs_asyncio,
                    vs_asyncio <= MEMORY_WITHIN,
                )
            if group == FAIR and value is not None:
                add(
                    key,
                    impl,
                    f"p99 < {FAIR_P99 * 1e3:g} ms",
                    value["median"],
                    value["median"] < FAIR_P99,
                )
                # The same over sleeps the OS did not preempt: the loops' share.
                calm = figures.get(f"{key}_unpreempted", {}).get("values", {}).get(impl)
                if calm is not None:
                    add(
                        f"{key}_unpreempted",
                        impl,
                        f"p99 <= {FAIR_P99_UNPREEMPTED * 1e6:g} us",
                        calm["median"],
                        calm["median"] <= FAIR_P99_UNPREEMPTED,
                    )
            if group == FAIR_THROUGHPUT and value is not None:
                add(
                    key,
                    impl,
                    f">= {FAIR_THROUGHPUT_KEPT:.0%}",
                    value["median"],
                    value["median"] >= FAIR_THROUGHPUT_KEPT,
                )
            if group == IDLE:
                per_trio = ratios.get(f"{impl}/trio.sleep")
                if per_trio is not None:
                    add(
                        key,
                        impl,
                        f"<= {IDLE_VS_TRIO:g}x trio.sleep's wake-up (x shown)",
                        per_trio,
                        per_trio <= IDLE_VS_TRIO,
                    )
            if group == BRIDGE and value is not None:
                per_sleep0 = ratios.get(f"{impl}/trio.sleep(0)")
                ok = value["median"] < BRIDGE_ABSOLUTE or (
                    per_sleep0 is not None and per_sleep0 <= BRIDGE_VS_SLEEP0
                )
                add(
                    key,
                    impl,
                    f"< {BRIDGE_ABSOLUTE * 1e6:g} us or <= "
                    f"{BRIDGE_VS_SLEEP0:g} trio.sleep(0) (x sleep0 shown)",
                    per_sleep0 if per_sleep0 is not None else value["median"],
                    ok,
                )
                if vs_peer:
                    speedup = 1 / vs_peer
                    add(
                        key,
                        impl,
                        f"speedup vs trio-asyncio >= {FASTER_THAN_PEER_BRIDGE}",
                        speedup,
                        speedup >= FASTER_THAN_PEER_BRIDGE,
                    )
        for impl in GUEST:
            vs_trio = ratios.get(ratio_key(impl, TRIO))
            if group == GUEST_WORK and vs_trio is not None:
                add(
                    key,
                    impl,
                    f"/trio.run <= {GUEST_WITHIN_TRIO}",
                    vs_trio,
                    vs_trio <= GUEST_WITHIN_TRIO,
                )
        vs_selector = ratios.get(ratio_key(AIOTRIO_TRIO_READINESS, AIOTRIO_OPEN_LOOP))
        if group == READINESS and vs_selector is not None:
            add(
                key,
                AIOTRIO_TRIO_READINESS,
                f"/selector backend <= {TRIO_READINESS_WITHIN}",
                vs_selector,
                vs_selector <= TRIO_READINESS_WITHIN,
            )
    return checks


def describe(check: Check) -> str:
    return (
        f"{'ok  ' if check['ok'] else 'MISS'} {check['figure']:<30} "
        f"{LABELS[check['impl']]:<18} {check['rule']}: {check['value']:.3g}"
    )
