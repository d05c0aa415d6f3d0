"""Memory: peak RSS of a process holding 10,000 idle asyncio TCP connections.

Each connection is a stream pair plus a task parked in ``reader.read()``, the
usual shape of an idle connection. The peer is `idle_server` in another
process. The sockets are connected with blocking ``connect()`` and then handed
to asyncio (``open_connection(sock=...)``): what is measured is the idle
state, and this takes a third of the time of 10,000 asyncio connects.
Figures: the peak RSS (``ru_maxrss``) and the RSS the connections added.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import struct
import subprocess
import sys
from pathlib import Path

from echo_servers import HOST
from impls import run_asyncio_main
from timing import scaled

CONNECTIONS = 10_000
BATCH = 500  # connected before the peer accepts them: well under its backlog


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _hold(port: int) -> dict[str, float]:
    count = scaled(CONNECTIONS, minimum=BATCH)
    before = _rss()
    writers: list[asyncio.StreamWriter] = []
    readers: list[asyncio.Task[bytes]] = []
    for start in range(0, count, BATCH):
        socks = [socket.create_connection((HOST, port)) for _ in range(min(BATCH, count - start))]
        pairs = await asyncio.gather(*(asyncio.open_connection(sock=s) for s in socks))
        for reader, writer in pairs:
            writers.append(writer)
            readers.append(asyncio.create_task(reader.read(1)))
    await asyncio.sleep(0.2)  # everything idle and parked
    after = _rss()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    linger = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT pile-up
    for writer in writers:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        writer.transport.abort()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return {"mem_peak_rss": float(peak), "mem_added_rss": float(after - before)}


def measure(impl: str) -> dict[str, float]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("idle_server.py"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        return run_asyncio_main(impl, lambda: _hold(port))
    finally:
        server.kill()
        server.wait()
