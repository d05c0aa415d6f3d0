"""9. TLS echo over loopback with streams (trustme certificates): 64 B and 64 KiB."""

from __future__ import annotations

import ssl

import trustme

from echo_servers import port_of, start_stream_server, stream_client
from impls import run_asyncio_main
from timing import per_op

SIZES = ((64, "64B"), (64 * 1024, "64KiB"))


def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts trusting a throwaway CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def main() -> dict[str, float]:
    server_context, client_context = contexts()
    server = await start_stream_server(server_context)
    figures: dict[str, float] = {}
    for size, name in SIZES:
        echo, close = await stream_client(port_of(server), size, client_context)
        figures[f"tls_streams_{name}"] = await per_op(echo)
        await close()
    server.close()
    await server.wait_closed()
    return figures


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
