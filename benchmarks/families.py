"""The benchmark families: which module measures what, for which implementations.

The runner reads this registry; a worker imports only the one module it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from impls import (
    AIOTRIO_FACTORY,
    AIOTRIO_OPEN_LOOP,
    ALL,
    ASYNCIO,
    GUEST_FAMILY,
    READINESS_FAMILY,
    TRIO_CAPABLE,
)

# Figure kinds: how a value is shown. All are "lower is better".
TIME = "time"  # seconds per operation
LATENCY = "latency"  # seconds late
BYTES = "bytes"
FRACTION = "fraction"

# Target groups (see targets.py).
CORE = "core"  # 1-5: within 1.10x of asyncio, >= 4x faster than trio-asyncio
IO = "io"  # 6-9: within 1.10x of asyncio
BRIDGE = "bridge"  # 10
REFERENCE = "reference"  # shown, no target
FAIR = "fair"  # 11: p99 under 2 ms; p99 of sleeps not preempted <= 100 us
FAIR_THROUGHPUT = "fair_throughput"  # 11: asyncio keeps >= 97% of its throughput
IDLE = "idle"  # 12: an asyncio wake-up within 1.2x of Trio's own
MEMORY = "memory"  # within 1.2x of asyncio
GUEST_WORK = "guest_work"  # 13: Trio's own work in a guest run, within 1.15x of trio.run
GUEST_BRIDGE = "guest_bridge"  # 13: bridge calls in guest mode, next to open_loop()'s
READINESS = "readiness"  # 14: the trio readiness backend within 1.2x of the selector one


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    kind: str
    group: str


@dataclass(frozen=True)
class Family:
    number: str
    module: str
    impls: tuple[str, ...]
    figures: tuple[Figure, ...]
    #: Measure in a newly started interpreter rather than a fork of a
    #: pre-imported one (memory: RSS must not include the fork server's pages).
    spawn: bool = False
    #: Cap on rounds, for slow families whose figure barely varies.
    max_repeat: int | None = None


def _f(key: str, label: str, group: str, kind: str = TIME) -> Figure:
    return Figure(key, label, kind, group)


FAMILIES: tuple[Family, ...] = (
    Family(
        "1",
        "bm_call_soon",
        ALL,
        (
            _f("call_soon_chain", "call_soon chain (per callback)", CORE),
            _f("call_soon_burst", "call_soon burst of 1000 (per callback)", CORE),
        ),
    ),
    Family(
        "2", "bm_sleep0", ALL, (_f("sleep0_10_tasks", "sleep(0) in 10 tasks (per sleep)", CORE),)
    ),
    Family(
        "3", "bm_gather", ALL, (_f("gather_10k_tasks", "spawn+gather 10k tasks (per task)", CORE),)
    ),
    Family(
        "4",
        "bm_timeouts",
        ALL,
        (
            _f("wait_for", "wait_for(sleep(0), 3600)", CORE),
            _f("timeout_cm", "timeout(3600): sleep(0)", CORE),
        ),
    ),
    Family(
        "5",
        "bm_timers",
        ALL,
        (
            _f("call_later_fill_100k", "call_later x100k (per timer)", CORE),
            _f("call_later_fire_100k_pending", "call_later(0) fire, 100k pending", CORE),
        ),
    ),
    Family(
        "6",
        "bm_tcp_echo",
        ALL,
        (
            _f("tcp_streams_64B", "TCP echo streams 64 B", IO),
            _f("tcp_streams_64KiB", "TCP echo streams 64 KiB", IO),
            _f("tcp_protocol_64B", "TCP echo Protocol 64 B", IO),
            _f("tcp_protocol_64KiB", "TCP echo Protocol 64 KiB", IO),
        ),
    ),
    Family(
        "7",
        "bm_tcp_many",
        ALL,
        (_f("tcp_100_clients", "TCP echo 100 clients (per round trip)", IO),),
    ),
    Family("8", "bm_udp_echo", ALL, (_f("udp_64B", "UDP echo 64 B", IO),)),
    Family(
        "9",
        "bm_tls_echo",
        ALL,
        (
            _f("tls_streams_64B", "TLS echo streams 64 B", IO),
            _f("tls_streams_64KiB", "TLS echo streams 64 KiB", IO),
        ),
    ),
    Family(
        "10",
        "bm_bridges",
        TRIO_CAPABLE,
        (
            _f("bridge_trio_to_asyncio", "Trio -> asyncio call (run_asyncio)", BRIDGE),
            _f("bridge_asyncio_to_trio", "asyncio -> Trio call (run_trio)", BRIDGE),
            _f("trio_sleep0", "trio.sleep(0), for reference", REFERENCE),
        ),
    ),
    Family(
        "11",
        "bm_fairness",
        TRIO_CAPABLE,
        (
            _f("fair_trio_sleeper_p50", "Trio 1ms sleep, aio busy: late p50", REFERENCE, LATENCY),
            _f("fair_trio_sleeper_p99", "Trio 1ms sleep, aio busy: late p99", FAIR, LATENCY),
            _f(
                "fair_trio_sleeper_p99_unpreempted",
                "Trio 1ms sleep, aio busy: p99 unpreempted",
                REFERENCE,
                LATENCY,
            ),
            _f(
                "fair_trio_sleeper_preempted",
                "Trio 1ms sleep, aio busy: share preempted",
                REFERENCE,
                FRACTION,
            ),
            _f(
                "fair_asyncio_sleeper_p50", "aio 1ms sleep, Trio busy: late p50", REFERENCE, LATENCY
            ),
            _f("fair_asyncio_sleeper_p99", "aio 1ms sleep, Trio busy: late p99", FAIR, LATENCY),
            _f(
                "fair_asyncio_sleeper_p99_unpreempted",
                "aio 1ms sleep, Trio busy: p99 unpreempted",
                REFERENCE,
                LATENCY,
            ),
            _f(
                "fair_asyncio_sleeper_preempted",
                "aio 1ms sleep, Trio busy: share preempted",
                REFERENCE,
                FRACTION,
            ),
            _f(
                "fair_asyncio_throughput_kept",
                "aio load's throughput kept with Trio ticking",
                FAIR_THROUGHPUT,
                FRACTION,
            ),
            _f(
                "fair_trio_throughput_kept",
                "(plain Trio load's, same ticker)",
                REFERENCE,
                FRACTION,
            ),
        ),
    ),
    Family(
        "12",
        "bm_idle",
        ALL,
        (
            _f("idle_asyncio_wakeup", "idle: CPU per asyncio.sleep(2ms) wake-up", IDLE),
            _f("idle_trio_wakeup", "idle: CPU per trio.sleep(2ms) wake-up", REFERENCE),
        ),
    ),
    Family(
        "13",
        "bm_guest",
        GUEST_FAMILY,
        (
            _f("guest_trio_sleep0", "Trio work: trio.sleep(0) loop", GUEST_WORK),
            _f("guest_trio_sleep0_10_tasks", "Trio work: sleep(0) in 10 tasks", GUEST_WORK),
            _f("guest_trio_tcp_echo", "Trio work: Trio TCP echo 64 B", GUEST_WORK),
            _f("guest_bridge_run_trio", "asyncio -> Trio call (run_trio)", GUEST_BRIDGE),
            _f("guest_bridge_run_asyncio", "Trio -> asyncio call (run_asyncio)", GUEST_BRIDGE),
        ),
    ),
    Family(
        "14",
        "bm_readiness",
        READINESS_FAMILY,
        (
            _f("readiness_tcp_streams_64B", "TCP echo streams 64 B", READINESS),
            _f("readiness_tcp_protocol_64B", "TCP echo Protocol 64 B", READINESS),
            _f("readiness_tcp_100_clients", "TCP echo 100 clients", READINESS),
            _f("readiness_udp_64B", "UDP echo 64 B", READINESS),
        ),
    ),
    # Memory is slow to set up (10,000 connections) and varies little: only
    # what the target compares, in two rounds.
    Family(
        "mem",
        "bm_memory",
        (ASYNCIO, AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP),
        (
            _f("mem_peak_rss", "10k idle TCP conns: peak RSS", MEMORY, BYTES),
            _f("mem_added_rss", "10k idle TCP conns: RSS added", REFERENCE, BYTES),
        ),
        spawn=True,
        max_repeat=2,
    ),
)


def select(only: list[str] | None) -> tuple[Family, ...]:
    """Families named by number or module (e.g. "6", "bm_tcp_echo", "tcp_echo")."""
    if not only:
        return FAMILIES
    wanted = set(only)
    chosen = tuple(
        family
        for family in FAMILIES
        if {family.number, family.module, family.module.removeprefix("bm_")} & wanted
    )
    if not chosen:
        raise SystemExit(f"no benchmark family matches {sorted(wanted)}")
    return chosen
