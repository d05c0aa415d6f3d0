"""Echo servers and clients over loopback, shared by the TCP and TLS benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable

HOST = "127.0.0.1"
READ_SIZE = 256 * 1024


async def _echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def start_stream_server(ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(_echo_stream, HOST, 0, ssl=ssl_context)


def port_of(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def stream_client(
    port: int, size: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[Callable[[int], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """Connect; return (``await echo(n)``: n round trips of `size` bytes, close)."""
    reader, writer = await asyncio.open_connection(
        HOST, port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
    )
    message = b"x" * size

    async def echo(n: int) -> None:
        for _ in range(n):
            writer.write(message)
            await reader.readexactly(size)

    async def close() -> None:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    return echo, close


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class ClientProtocol(asyncio.Protocol):
    """Sends a message and completes a future once all of its echo is back."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._expected = 0
        self._done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._expected -= len(data)
        if self._expected <= 0 and self._done is not None:
            self._done.set_result(None)

    async def round_trip(self, message: bytes) -> None:
        assert self.transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._expected = len(message)
        self.transport.write(message)
        await self._done


async def protocol_pair(
    size: int,
) -> tuple[Callable[[int], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """A Protocol echo server and client; return (echo(n), close)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, HOST, 0)
    _, client = await loop.create_connection(ClientProtocol, HOST, port_of(server))
    message = b"x" * size

    async def echo(n: int) -> None:
        for _ in range(n):
            await client.round_trip(message)

    async def close() -> None:
        assert client.transport is not None
        client.transport.close()
        server.close()
        await server.wait_closed()

    return echo, close
