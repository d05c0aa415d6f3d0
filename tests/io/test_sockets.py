"""The loop's low-level socket methods (sock_*), on real loopback sockets."""

from __future__ import annotations

import asyncio
import io
import os
import socket
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import LOCALHOST, settle

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable


def _listener() -> socket.socket:
    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(10)
    listener.setblocking(False)
    return listener


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    sock.setblocking(False)
    return sock


async def _connected_pair() -> tuple[socket.socket, socket.socket]:
    """A TCP connection made with sock_connect/sock_accept: (client, server side)."""
    loop = asyncio.get_running_loop()
    with _listener() as listener:
        client = socket.socket()
        client.setblocking(False)
        try:
            accepted, _ = await asyncio.gather(
                loop.sock_accept(listener), loop.sock_connect(client, listener.getsockname())
            )
        except BaseException:
            client.close()
            raise
    conn, address = accepted
    assert address == client.getsockname()
    conn.setblocking(False)
    return client, conn


def test_connect_accept_sendall_recv_a_megabyte(run_aio: Callable[..., Any]) -> None:
    """More than the socket buffers hold: sendall has to wait for writability many times."""
    payload = os.urandom(1 << 20) * 4

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        client, conn = await _connected_pair()
        with client, conn:

            async def receive() -> bytes:
                chunks: list[bytes] = []
                while True:
                    chunk = await loop.sock_recv(conn, 65536)
                    if not chunk:
                        return b"".join(chunks)
                    chunks.append(chunk)

            async def send() -> None:
                await loop.sock_sendall(client, payload)
                client.shutdown(socket.SHUT_WR)

            received, _ = await asyncio.gather(receive(), send())
            return received

    assert run_aio(main) == payload


def test_sock_recv_waits_for_data(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        with a, b:
            pending = asyncio.ensure_future(loop.sock_recv(a, 100))
            await settle()
            waited = not pending.done()
            await loop.sock_sendall(b, b"late")
            return waited, await asyncio.wait_for(pending, 20)

    assert run_aio(main) == (True, b"late")


def test_cancelled_sock_recv_leaves_the_socket_usable(run_aio: Callable[..., Any]) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        with a, b:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(a, 100), 0.02)
            # The reader the cancelled call registered is gone: a new call may wait.
            again = asyncio.ensure_future(loop.sock_recv(a, 100))
            await settle()
            b.send(b"second")
            return await asyncio.wait_for(again, 20)

    assert run_aio(main) == b"second"


def test_sock_recv_into(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, bytes, int, bytes]:
        loop = asyncio.get_running_loop()
        client, conn = await _connected_pair()
        with client, conn:
            buffer = bytearray(8)
            pending = asyncio.ensure_future(loop.sock_recv_into(conn, buffer))
            await settle()
            await loop.sock_sendall(client, b"0123456789")
            first = await asyncio.wait_for(pending, 20)
            view = memoryview(bytearray(8))
            second = await loop.sock_recv_into(conn, view[2:])
            return first, bytes(buffer), second, bytes(view)

    assert run_aio(main) == (8, b"01234567", 2, b"\0\x0089\0\0\0\0")


def test_sock_sendto_recvfrom_and_recvfrom_into(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        with _udp() as a, _udp() as b:
            pending = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
            await settle()
            assert not pending.done()
            sent = await loop.sock_sendto(a, b"datagram", b.getsockname())
            data, sender = await asyncio.wait_for(pending, 20)
            await loop.sock_sendto(b, b"reply!", a.getsockname())
            buffer = bytearray(10)
            nbytes, replier = await asyncio.wait_for(loop.sock_recvfrom_into(a, buffer), 20)
            await loop.sock_sendto(b, b"truncated datagram", a.getsockname())
            small = bytearray(10)
            limited, _ = await asyncio.wait_for(loop.sock_recvfrom_into(a, small, 4), 20)
            return [
                sent,
                data,
                sender == a.getsockname(),
                buffer[:nbytes],
                replier == b.getsockname(),
                limited,
                bytes(small[:4]),
            ]

    assert run_aio(main) == [8, b"datagram", True, b"reply!", True, 4, b"trun"]


def test_sock_connect_resolves_names_and_reports_refusal(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, type[BaseException]]:
        loop = asyncio.get_running_loop()
        with _listener() as listener:
            port = listener.getsockname()[1]
            client = socket.socket()
            client.setblocking(False)
            with client:
                # "localhost" goes through the loop's getaddrinfo (an executor job).
                await loop.sock_connect(client, ("localhost", port))
                conn, _ = await loop.sock_accept(listener)
                with conn:
                    conn.setblocking(False)
                    await loop.sock_sendall(conn, b"hi")
                    data = await loop.sock_recv(client, 10)
        refused = socket.socket()
        refused.setblocking(False)
        with refused:
            try:
                await loop.sock_connect(refused, (LOCALHOST, port))  # nobody listens now
            except OSError as exc:
                return data, type(exc)
        raise AssertionError("connect to a closed port succeeded")

    assert run_aio(main) == (b"hi", ConnectionRefusedError)


def test_sock_accept_waits_and_serves_several_clients(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        with _listener() as listener:
            served = [asyncio.Event() for _ in range(5)]

            async def client(i: int) -> None:
                sock = socket.socket()
                sock.setblocking(False)
                with sock:
                    if i:  # one at a time: each accept has to wait for its client
                        await served[i - 1].wait()
                    await loop.sock_connect(sock, listener.getsockname())
                    await loop.sock_sendall(sock, f"client {i}".encode())

            clients = asyncio.gather(*(client(i) for i in range(5)))
            received = []
            try:
                async with asyncio.timeout(30):
                    for i in range(5):
                        conn, _ = await loop.sock_accept(listener)
                        with conn:
                            conn.setblocking(False)
                            received.append(await loop.sock_recv(conn, 100))
                        served[i].set()
            except BaseException:
                clients.cancel()  # the later clients would wait for their turn forever
                raise
            await clients
            return received

    assert run_aio(main) == [f"client {i}".encode() for i in range(5)]


# -- sock_sendfile -------------------------------------------------------------------


def test_sock_sendfile_native(
    run_aio: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regular file over TCP goes through os.sendfile, honouring offset and count."""
    content = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    native_calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args: Any) -> int:
        native_calls.append(args)
        return real_sendfile(*args)

    monkeypatch.setattr(os, "sendfile", counting_sendfile)

    async def main() -> tuple[int, bytes, int]:
        loop = asyncio.get_running_loop()
        client, conn = await _connected_pair()
        with client, conn, path.open("rb") as file:

            async def receive() -> bytes:
                chunks = []
                while chunk := await loop.sock_recv(conn, 65536):
                    chunks.append(chunk)
                return b"".join(chunks)

            async def send() -> int:
                sent = await loop.sock_sendfile(client, file, 1000, 200_000, fallback=False)
                client.shutdown(socket.SHUT_WR)
                return sent

            received, sent = await asyncio.gather(receive(), send())
            return sent, received, file.tell()

    sent, received, position = run_aio(main)
    assert (sent, position) == (200_000, 201_000)
    assert received == content[1000:201_000]
    assert native_calls


@pytest.mark.parametrize("fallback", [True, False])
def test_sock_sendfile_without_a_native_path(
    run_aio: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    """An in-memory file cannot use os.sendfile: fallback=True copies, False raises."""
    native_calls: list[object] = []
    monkeypatch.setattr(os, "sendfile", lambda *args: native_calls.append(args))

    async def main() -> tuple[str, bytes]:
        loop = asyncio.get_running_loop()
        client, conn = await _connected_pair()
        with client, conn:
            file = io.BytesIO(b"0123456789" * 10_000)
            try:
                sent = await loop.sock_sendfile(client, file, 10, fallback=fallback)
            except asyncio.SendfileNotAvailableError:
                return "not available", b""
            client.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := await loop.sock_recv(conn, 65536):
                chunks.append(chunk)
            return f"sent {sent}", b"".join(chunks)

    outcome = run_aio(main)
    if fallback:
        assert outcome == ("sent 99990", (b"0123456789" * 10_000)[10:])
    else:
        assert outcome == ("not available", b"")
    assert native_calls == []


def test_sock_sendfile_rejects_datagram_sockets(run_aio: Callable[..., Any]) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        with _udp() as sock:
            try:
                await loop.sock_sendfile(sock, io.BytesIO(b"x"))
            except ValueError as exc:
                return str(exc)
        return "no error"

    assert "SOCK_STREAM" in run_aio(main)


# -- what asyncio checks --------------------------------------------------------------


def _blocking_socket_calls(
    loop: asyncio.AbstractEventLoop, tcp: socket.socket, udp: socket.socket
) -> dict[str, Any]:
    return {
        "sock_recv": lambda: loop.sock_recv(tcp, 1),
        "sock_recv_into": lambda: loop.sock_recv_into(tcp, bytearray(1)),
        "sock_recvfrom": lambda: loop.sock_recvfrom(udp, 1),
        "sock_recvfrom_into": lambda: loop.sock_recvfrom_into(udp, bytearray(1)),
        "sock_sendall": lambda: loop.sock_sendall(tcp, b"x"),
        "sock_sendto": lambda: loop.sock_sendto(udp, b"x", (LOCALHOST, 9)),
        "sock_connect": lambda: loop.sock_connect(tcp, (LOCALHOST, 9)),
        "sock_accept": lambda: loop.sock_accept(tcp),
        "sock_sendfile": lambda: loop.sock_sendfile(tcp, io.BytesIO(b"x")),
    }


def test_blocking_sockets_are_refused_in_debug_mode(run_aio: Callable[..., Any]) -> None:
    """asyncio checks non-blocking mode in debug mode: ValueError from every sock_* method."""

    async def main() -> dict[str, str]:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        outcomes = {}
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            assert tcp.gettimeout() is None  # blocking
            for name, call in _blocking_socket_calls(loop, tcp, udp).items():
                try:
                    await call()
                except ValueError as exc:
                    outcomes[name] = str(exc)
                else:
                    outcomes[name] = "no error"
        loop.set_debug(False)
        return outcomes

    outcomes = run_aio(main)
    assert outcomes == dict.fromkeys(outcomes, "the socket must be non-blocking")
    assert len(outcomes) == 9


def test_ssl_sockets_are_refused(run_aio: Callable[..., Any], client_ctx: ssl.SSLContext) -> None:
    async def main() -> dict[str, str]:
        loop = asyncio.get_running_loop()
        outcomes = {}
        with client_ctx.wrap_socket(
            socket.socket(), server_hostname="localhost", do_handshake_on_connect=False
        ) as tls:
            tls.setblocking(False)
            for name, call in {
                "sock_recv": lambda: loop.sock_recv(tls, 1),
                "sock_recv_into": lambda: loop.sock_recv_into(tls, bytearray(1)),
                "sock_sendall": lambda: loop.sock_sendall(tls, b"x"),
                "sock_connect": lambda: loop.sock_connect(tls, (LOCALHOST, 9)),
                "sock_accept": lambda: loop.sock_accept(tls),
            }.items():
                try:
                    await call()
                except TypeError as exc:
                    outcomes[name] = str(exc)
                else:
                    outcomes[name] = "no error"
        return outcomes

    outcomes = run_aio(main)
    assert outcomes == dict.fromkeys(outcomes, "Socket cannot be of type SSLSocket")
    assert len(outcomes) == 5
