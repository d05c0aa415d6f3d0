"""6. TCP echo over loopback: 64 B and 64 KiB, with streams and with a Protocol.

Client and server share the loop, so one figure is one full round trip
through the loop's I/O path on both ends.
"""

from __future__ import annotations

from echo_servers import port_of, protocol_pair, start_stream_server, stream_client
from impls import run_asyncio_main
from timing import per_op

SMALL = 64
LARGE = 64 * 1024


async def main() -> dict[str, float]:
    figures: dict[str, float] = {}
    server = await start_stream_server()
    for size, name in ((SMALL, "64B"), (LARGE, "64KiB")):
        echo, close = await stream_client(port_of(server), size)
        figures[f"tcp_streams_{name}"] = await per_op(echo)
        await close()
    server.close()
    await server.wait_closed()
    for size, name in ((SMALL, "64B"), (LARGE, "64KiB")):
        echo, close = await protocol_pair(size)
        figures[f"tcp_protocol_{name}"] = await per_op(echo)
        await close()
    return figures


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
