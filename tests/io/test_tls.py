"""TLS: ssl= on connections and servers, start_tls, handshake/shutdown timeouts, verification.

Certificates come from trustme (a throw-away CA, see conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..conftest import READINESS
from .conftest import LOCALHOST, upper_echo_lines
from .test_streams_servers import Accepted, Collector

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tls_streams_and_extra_info(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async def main() -> dict[str, object]:
        server = await asyncio.start_server(upper_echo_lines, LOCALHOST, 0, ssl=server_ctx)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(
                LOCALHOST, port, ssl=client_ctx, server_hostname="localhost"
            )
            writer.write(b"secret\n")
            reply = await reader.readline()
            tls = writer.get_extra_info("ssl_object")
            info = {
                "reply": reply,
                "is SSLObject": isinstance(tls, ssl.SSLObject),
                "version": tls.version(),
                "san": writer.get_extra_info("peercert")["subjectAltName"],
                "cipher matches": writer.get_extra_info("cipher") == tls.cipher(),
                "context": writer.get_extra_info("sslcontext") is client_ctx,
                "peername": writer.get_extra_info("peername"),
            }
            writer.close()
            await writer.wait_closed()
            return {**info, "port": port}

    info = run_aio(main)
    assert info == {
        "reply": b"SECRET\n",
        "is SSLObject": True,
        "version": info["version"],
        "san": (("DNS", "localhost"), ("IP Address", LOCALHOST)),
        "cipher matches": True,
        "context": True,
        "peername": (LOCALHOST, info["port"]),
        "port": info["port"],
    }
    assert info["version"] in ("TLSv1.2", "TLSv1.3")


def test_tls_protocols_move_megabytes_both_ways(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    payload = os.urandom(1 << 20) * 3

    class Echo(Collector):
        def data_received(self, data: bytes) -> None:
            assert self.transport is not None
            self.transport.write(data)

        def eof_received(self) -> bool:
            assert self.transport is not None
            self.transport.close()
            return False

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, LOCALHOST, 0, ssl=server_ctx)
        async with server:
            transport, client = await loop.create_connection(
                Collector,
                LOCALHOST,
                server.sockets[0].getsockname()[1],
                ssl=client_ctx,
                server_hostname="localhost",
            )
            transport.write(payload)
            await client.received(len(payload))
            transport.close()
            await client.closed
            await accepted.all_closed()
            return bytes(client.data)

    assert run_aio(main) == payload


@pytest.mark.parametrize("problem", ["untrusted CA", "wrong host name"])
def test_failed_verification_raises_cert_verification_error(
    run_aio: Callable[..., Any],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    problem: str,
) -> None:
    async def main() -> tuple[int, bytes]:
        server = await asyncio.start_server(upper_echo_lines, LOCALHOST, 0, ssl=server_ctx)
        async with server:
            port = server.sockets[0].getsockname()[1]
            if problem == "untrusted CA":
                context, hostname = ssl.create_default_context(), "localhost"
            else:
                context, hostname = client_ctx, "not-localhost.example"
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await asyncio.open_connection(
                    LOCALHOST, port, ssl=context, server_hostname=hostname
                )
            # The server is unharmed by the failed handshake.
            reader, writer = await asyncio.open_connection(
                LOCALHOST, port, ssl=client_ctx, server_hostname="localhost"
            )
            writer.write(b"after\n")
            reply = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return info.value.verify_code, reply

    code, reply = run_aio(main)
    # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY / X509_V_ERR_HOSTNAME_MISMATCH
    assert code == (20 if problem == "untrusted CA" else 62)
    assert reply == b"AFTER\n"


def test_start_tls_client_side_with_loop_start_tls(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """A STARTTLS exchange: the server upgrades with StreamWriter.start_tls, the client with
    loop.start_tls on its protocol's transport."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO AHEAD\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        await upper_echo_lines(reader, writer)

    async def main() -> tuple[bytes, str, bytes]:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(serve, LOCALHOST, 0)
        async with server:
            transport, client = await loop.create_connection(
                Collector, LOCALHOST, server.sockets[0].getsockname()[1]
            )
            transport.write(b"STARTTLS\n")
            await client.received(line=True)
            greeting = bytes(client.data)
            client.data.clear()
            tls_transport = await loop.start_tls(
                transport, client, client_ctx, server_hostname="localhost"
            )
            assert tls_transport is not None
            version = tls_transport.get_extra_info("ssl_object").version()
            tls_transport.write(b"now encrypted\n")
            await client.received(line=True)
            tls_transport.close()
            await client.closed
            return greeting, version, bytes(client.data)

    greeting, version, reply = run_aio(main)
    assert (greeting, reply) == (b"GO AHEAD\n", b"NOW ENCRYPTED\n")
    assert version.startswith("TLS")


def test_start_tls_server_side_with_loop_start_tls(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """The other way round: the server upgrades with loop.start_tls(server_side=True)."""

    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        upgraded: asyncio.Future[asyncio.BaseTransport | None] = loop.create_future()

        class StartTlsServer(Collector):
            def data_received(self, data: bytes) -> None:
                assert self.transport is not None
                if data == b"STARTTLS\n":
                    self.transport.write(b"GO AHEAD\n")
                    task = loop.create_task(
                        loop.start_tls(self.transport, self, server_ctx, server_side=True)
                    )
                    task.add_done_callback(self.upgraded)
                else:
                    self.transport.write(data.upper())

            def upgraded(self, task: asyncio.Task[asyncio.Transport | None]) -> None:
                # start_tls does not call connection_made again: switch transports here.
                self.transport = task.result()
                upgraded.set_result(self.transport)

        accepted = Accepted(StartTlsServer)
        server = await loop.create_server(accepted, LOCALHOST, 0)
        async with server:
            reader, writer = await asyncio.open_connection(
                LOCALHOST, server.sockets[0].getsockname()[1]
            )
            writer.write(b"STARTTLS\n")
            greeting = await reader.readline()
            await writer.start_tls(client_ctx, server_hostname="localhost")
            server_transport = await asyncio.wait_for(upgraded, 20)
            assert server_transport.get_extra_info("ssl_object") is not None
            writer.write(b"over tls\n")
            reply = await reader.readline()
            writer.close()
            await writer.wait_closed()
            await accepted.all_closed()
            return greeting, reply

    assert run_aio(main) == (b"GO AHEAD\n", b"OVER TLS\n")


async def _bio_server_handshake(sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLObject:
    """Be a TLS server on `sock` by hand, so it can later ignore the client's close_notify."""
    loop = asyncio.get_running_loop()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if data := outgoing.read():
                await loop.sock_sendall(sock, data)
            incoming.write(await loop.sock_recv(sock, 65536))
    if data := outgoing.read():
        await loop.sock_sendall(sock, data)
    return tls


def test_ssl_handshake_timeout_client_side(
    run_aio: Callable[..., Any], client_ctx: ssl.SSLContext
) -> None:
    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        ours, silent_peer = socket.socketpair()
        with silent_peer:
            ours.setblocking(False)
            start = time.monotonic()
            try:
                await loop.create_connection(
                    Collector,
                    sock=ours,
                    ssl=client_ctx,
                    server_hostname="localhost",
                    ssl_handshake_timeout=0.2,
                )
            except ConnectionAbortedError as exc:
                return str(exc), time.monotonic() - start
            raise AssertionError("the handshake with a silent peer succeeded")

    message, elapsed = run_aio(main)
    assert "SSL handshake is taking longer than 0.2 seconds" in message
    assert 0.15 <= elapsed < 10


def test_ssl_handshake_timeout_server_side(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext
) -> None:
    """A client that connects and never starts TLS is dropped after the timeout."""

    async def main() -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            Collector, LOCALHOST, 0, ssl=server_ctx, ssl_handshake_timeout=0.2
        )
        async with server:
            sock = socket.socket()
            sock.setblocking(False)
            with sock:
                await loop.sock_connect(sock, server.sockets[0].getsockname())
                start = time.monotonic()
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 100), 30)
                except ConnectionResetError:
                    data = b"(reset)"
                return data, time.monotonic() - start

    data, elapsed = run_aio(main)
    assert data in (b"", b"(reset)")
    assert 0.15 <= elapsed < 10


def test_ssl_shutdown_timeout(
    run_aio: Callable[..., Any], server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """The peer never answers close_notify: the transport gives up after ssl_shutdown_timeout."""

    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair()
        with peer:
            ours.setblocking(False)
            peer.setblocking(False)
            handshake = asyncio.ensure_future(_bio_server_handshake(peer, server_ctx))
            transport, client = await loop.create_connection(
                Collector,
                sock=ours,
                ssl=client_ctx,
                server_hostname="localhost",
                ssl_shutdown_timeout=0.3,
            )
            await handshake
            start = time.monotonic()
            transport.close()  # sends close_notify; the peer stays silent
            exc = await asyncio.wait_for(client.closed, 30)
            return repr(exc), time.monotonic() - start

    outcome, elapsed = run_aio(main)
    assert outcome == "TimeoutError('SSL shutdown timed out')"
    assert 0.25 <= elapsed < 10


def test_timeouts_must_be_positive(run_aio: Callable[..., Any], client_ctx: ssl.SSLContext) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        outcomes = []
        for kwargs in ({"ssl_handshake_timeout": 0}, {"ssl_shutdown_timeout": -1}):
            ours, peer = socket.socketpair()
            with ours, peer:
                ours.setblocking(False)
                try:
                    await loop.create_connection(
                        Collector, sock=ours, ssl=client_ctx, server_hostname="localhost", **kwargs
                    )
                except ValueError as exc:
                    outcomes.append(str(exc))
        return outcomes

    assert run_aio(main) == [
        "ssl_handshake_timeout should be a positive number, got 0",
        "ssl_shutdown_timeout should be a positive number, got -1",
    ]


def test_tls_echo_example() -> None:
    """examples/tls_echo.py runs as a user would run it, warning-free, and says what it should."""
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / "tls_echo.py")],
        capture_output=True,
        text=True,
        timeout=45,
        env={**os.environ, "AIOTRIO_READINESS": READINESS},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "[trio   ] made a throw-away CA and a certificate for localhost"
    assert lines[1].startswith("[trio   ] asyncio TLS echo server listening on 127.0.0.1:")
    # The three clients run concurrently: the server's lines come in any order.
    assert sorted(lines[2:5]) == [
        f"[asyncio] server: {name} connected over {lines[2].rsplit(' ', 1)[1]}"
        for name in ("alice", "bob", "carol")
    ]
    assert lines[2].rsplit(" ", 1)[1] in ("TLSv1.2", "TLSv1.3")
    assert lines[5:] == [
        "[trio   ] alice got back ['HELLO', 'TLS']",
        "[trio   ] bob got back ['FROM', 'ASYNCIO']",
        "[trio   ] carol got back ['ON', 'TRIO']",
        "[trio   ] a Trio task ticked meanwhile: yes",
        "[trio   ] untrusting client refused: unable to get local issuer certificate",
        f"[asyncio] server: slow client connected over {lines[2].rsplit(' ', 1)[1]}",
        "[asyncio] slow client: cancelled, closing its connection",
        "[trio   ] slow client cancelled by Trio: True",
        "[trio   ] server closed",
        "[trio   ] loop closed, done",
    ]
