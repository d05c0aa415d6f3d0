"""6. TCP echo over loopback: 64 B and 64 KiB, with streams and with a Protocol.

Client and server share the loop, so one figure is one full round trip
through the loop's I/O path on both ends. The bodies (`streams_echo`,
`protocol_echo`) also serve family 14, which runs them with each readiness
backend.
"""

from __future__ import annotations

from echo_servers import port_of, protocol_pair, start_stream_server, stream_client
from impls import run_asyncio_main
from timing import per_op

SMALL = 64
LARGE = 64 * 1024
SIZES = {"64B": SMALL, "64KiB": LARGE}


async def streams_echo(sizes: list[int]) -> list[float]:
    """Seconds per round trip over asyncio streams: one client per size in turn, one server."""
    figures = []
    server = await start_stream_server()
    for size in sizes:
        echo, close = await stream_client(port_of(server), size)
        figures.append(await per_op(echo))
        await close()
    server.close()
    await server.wait_closed()
    return figures


async def protocol_echo(sizes: list[int]) -> list[float]:
    """Seconds per round trip between two Protocols: one server and client per size in turn."""
    figures = []
    for size in sizes:
        echo, close = await protocol_pair(size)
        figures.append(await per_op(echo))
        await close()
    return figures


async def main() -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind, body in (("streams", streams_echo), ("protocol", protocol_echo)):
        measured = await body(list(SIZES.values()))
        for name, figure in zip(SIZES, measured, strict=True):
            figures[f"tcp_{kind}_{name}"] = figure
    return figures


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
