"""Unix sockets: create_unix_connection/server, open_unix_connection/start_unix_server,
abstract names, cleanup_socket."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import IS_LINUX, upper_echo_lines
from .test_streams_servers import Accepted, Collector, EchoProtocol

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable


async def _ask(path: str, message: bytes, **kwargs: Any) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path, **kwargs)
    try:
        writer.write(message + b"\n")
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


def test_stream_server_and_clients_on_a_path(run_aio: Callable[..., Any], sock_dir: str) -> None:
    path = os.path.join(sock_dir, "s")

    async def main() -> tuple[list[bytes], bool]:
        server = await asyncio.start_unix_server(upper_echo_lines, path)
        async with server:
            replies = await asyncio.gather(*(_ask(path, b"unix %d" % i) for i in range(5)))
            return list(replies), server.sockets[0].getsockname() == path

    assert run_aio(main) == ([b"UNIX %d\n" % i for i in range(5)], True)


def test_protocol_server_and_connection(run_aio: Callable[..., Any], sock_dir: str) -> None:
    path = os.path.join(sock_dir, "p")

    async def main() -> tuple[bool, str, object]:
        loop = asyncio.get_running_loop()
        accepted = Accepted(EchoProtocol)
        server = await loop.create_unix_server(accepted, path)
        async with server:
            transport, client = await loop.create_unix_connection(Collector, path)
            payload = os.urandom(1 << 20)
            transport.write(payload)
            await client.received(len(payload))
            peer = transport.get_extra_info("peername")
            family = transport.get_extra_info("socket").family
            transport.close()
            await client.closed
            await accepted.all_closed()
            return bytes(client.data) == payload, peer, family

    assert run_aio(main) == (True, path, socket.AF_UNIX)


def test_unix_connection_on_an_existing_socket(run_aio: Callable[..., Any]) -> None:
    async def main() -> bytes:
        ours, theirs = socket.socketpair()
        with theirs:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            theirs.sendall(b"over a socketpair\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line

    assert run_aio(main) == b"over a socketpair\n"


def test_server_replaces_a_stale_socket_file(run_aio: Callable[..., Any], sock_dir: str) -> None:
    """A socket file left behind by a dead server is removed, as asyncio does."""
    path = os.path.join(sock_dir, "stale")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)

    async def main() -> bytes:
        server = await asyncio.start_unix_server(upper_echo_lines, path)
        async with server:
            return await _ask(path, b"fresh")

    assert run_aio(main) == b"FRESH\n"


@pytest.mark.skipif(not IS_LINUX, reason="abstract socket names are Linux-only")
def test_abstract_names(run_aio: Callable[..., Any]) -> None:
    name = f"\0aiotrio-test-{os.getpid()}"

    async def main() -> tuple[bytes, object]:
        server = await asyncio.start_unix_server(upper_echo_lines, name)
        async with server:
            reply = await _ask(name, b"abstract")
            return reply, server.sockets[0].getsockname()

    reply, sockname = run_aio(main)
    assert reply == b"ABSTRACT\n"
    assert sockname == name.encode()  # Python reports abstract names as bytes


@pytest.mark.skipif(sys.version_info < (3, 13), reason="cleanup_socket is new in 3.13")
@pytest.mark.parametrize("cleanup", [True, False])
def test_cleanup_socket(run_aio: Callable[..., Any], sock_dir: str, cleanup: bool) -> None:
    path = os.path.join(sock_dir, "c")

    async def main() -> tuple[bool, bool]:
        server = await asyncio.start_unix_server(
            upper_echo_lines,
            path,
            cleanup_socket=cleanup,
        )
        async with server:
            existed = os.path.exists(path)
            await _ask(path, b"x")
        await server.wait_closed()
        return existed, os.path.exists(path)

    assert run_aio(main) == (True, not cleanup)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="cleanup_socket is new in 3.13")
def test_socket_file_replaced_by_someone_else_is_not_removed(
    run_aio: Callable[..., Any], sock_dir: str
) -> None:
    """asyncio only removes the file it created (same inode)."""
    path = os.path.join(sock_dir, "r")

    async def main() -> bool:
        server = await asyncio.start_unix_server(upper_echo_lines, path)
        os.unlink(path)
        with open(path, "w") as replacement:
            replacement.write("not a socket")
        server.close()
        await server.wait_closed()
        return os.path.exists(path)

    assert run_aio(main) is True


def test_unix_tls(
    run_aio: Callable[..., Any],
    sock_dir: str,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    path = os.path.join(sock_dir, "t")

    async def main() -> bytes:
        server = await asyncio.start_unix_server(upper_echo_lines, path, ssl=server_ctx)
        async with server:
            return await _ask(path, b"tls over unix", ssl=client_ctx, server_hostname="localhost")

    assert run_aio(main) == b"TLS OVER UNIX\n"


def test_connecting_to_nothing(run_aio: Callable[..., Any], sock_dir: str) -> None:
    path = os.path.join(sock_dir, "nobody")

    async def main() -> str:
        try:
            await asyncio.open_unix_connection(path)
        except FileNotFoundError:
            return "not found"
        return "connected"

    assert run_aio(main) == "not found"
