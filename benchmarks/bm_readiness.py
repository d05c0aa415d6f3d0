"""14. The I/O readiness backends inside ``open_loop()``: selector against trio.

The echo bodies of families 6, 7 and 8 (TCP over asyncio streams and between
two Protocols, 100 stream clients at once, UDP; 64 B, per round trip), run
inside ``aiotrio.open_loop()`` once with ``readiness="selector"`` (the
default: one pollable selector that the driver waits on) and once with
``readiness="trio"`` (the portable backend: Trio's own per-fd waits, a
watcher per registered fd). Each backend is an implementation of its own, so
each measurement gets a fresh worker and the ratio trio / selector is paired
within rounds.
"""

from __future__ import annotations

import asyncio

import bm_udp_echo
from bm_tcp_echo import SMALL, protocol_echo, streams_echo
from bm_tcp_many import many_clients_echo
from impls import AIOTRIO_OPEN_LOOP, AIOTRIO_TRIO_READINESS, run_asyncio_main

#: The backend each of this family's implementations asks open_loop() for.
BACKENDS = {AIOTRIO_OPEN_LOOP: "selector", AIOTRIO_TRIO_READINESS: "trio"}


async def main(backend: str) -> dict[str, float]:
    # "selector" falls back to "trio" where no selector can be polled: a
    # figure must not silently measure the other backend.
    running = getattr(asyncio.get_running_loop(), "readiness", None)
    if running != backend:
        raise RuntimeError(f"asked for the {backend!r} readiness backend, got {running!r}")
    [streams] = await streams_echo([SMALL])
    [protocol] = await protocol_echo([SMALL])
    many = await many_clients_echo()
    udp = await bm_udp_echo.main()
    return {
        "readiness_tcp_streams_64B": streams,
        "readiness_tcp_protocol_64B": protocol,
        "readiness_tcp_100_clients": many,
        "readiness_udp_64B": udp["udp_64B"],
    }


def measure(impl: str) -> dict[str, float]:
    backend = BACKENDS[impl]
    return run_asyncio_main(impl, lambda: main(backend), readiness=backend)
