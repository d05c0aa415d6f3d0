"""7. 100 concurrent TCP echo clients (64 B, streams); figure: per round trip.

Each client makes at least 5 round trips per pass, so starting the 100
client tasks of a pass is a small part of it.
"""

from __future__ import annotations

import asyncio

from echo_servers import port_of, start_stream_server, stream_client
from impls import run_asyncio_main
from timing import per_op

CLIENTS = 100
SIZE = 64


async def main() -> dict[str, float]:
    return {"tcp_100_clients": await many_clients_echo()}


async def many_clients_echo() -> float:
    """Seconds per round trip of CLIENTS clients echoing at once (also family 14's)."""
    server = await start_stream_server()
    clients = await asyncio.gather(*(stream_client(port_of(server), SIZE) for _ in range(CLIENTS)))

    async def all_echo(n: int) -> None:
        await asyncio.gather(*(echo(n // CLIENTS) for echo, _ in clients))

    figure = await per_op(all_echo, CLIENTS * 5)
    await asyncio.gather(*(close() for _, close in clients))
    server.close()
    await server.wait_closed()
    return figure


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
