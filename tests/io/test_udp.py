"""create_datagram_endpoint: local/remote addresses, sock=, broadcast, error_received."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any, cast

import pytest

from .conftest import LOCALHOST

if TYPE_CHECKING:
    from collections.abc import Callable


class Datagrams(asyncio.DatagramProtocol):
    """Collects datagrams and errors; `arrived` is set on each event."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.transport: asyncio.DatagramTransport | None = None
        self.received: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (3.11's datagram transport does not subclass DatagramTransport.)
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append((data, addr))
        if self.echo:
            assert self.transport is not None
            self.transport.sendto(data.upper(), addr)
        self.arrived.set()

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(exc)

    async def next_event(self) -> None:
        await asyncio.wait_for(self.arrived.wait(), 20)
        self.arrived.clear()


async def _close(transport: asyncio.BaseTransport, protocol: Datagrams) -> None:
    transport.close()
    await protocol.closed


def test_local_and_remote_addr_echo(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            lambda: Datagrams(echo=True), local_addr=(LOCALHOST, 0)
        )
        address = server_transport.get_extra_info("sockname")
        client_transport, client = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=address
        )
        client_transport.sendto(b"one")
        client_transport.sendto(b"two")
        while len(client.received) < 2:
            await client.next_event()
        result = [
            sorted(data for data, _ in client.received),
            {addr for _, addr in client.received} == {address},
            client_transport.get_extra_info("peername") == address,
            server.received[0][1] == client_transport.get_extra_info("sockname"),
        ]
        await _close(client_transport, client)
        await _close(server_transport, server)
        return result

    assert run_aio(main) == [[b"ONE", b"TWO"], True, True, True]


def test_unconnected_endpoint_sends_to_given_addresses(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        endpoints = [
            await loop.create_datagram_endpoint(Datagrams, local_addr=(LOCALHOST, 0))
            for _ in range(3)
        ]
        sender_transport, _ = endpoints[0]
        for i, (transport, _) in enumerate(endpoints[1:], 1):
            sender_transport.sendto(b"to %d" % i, transport.get_extra_info("sockname"))
        got = []
        for _, protocol in endpoints[1:]:
            await protocol.next_event()
            got.append(protocol.received[0][0])
        for transport, protocol in endpoints:
            await _close(transport, protocol)
        return got

    assert run_aio(main) == [b"to 1", b"to 2"]


def test_endpoint_on_an_existing_socket(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bytes]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOCALHOST, 0))
        sock.setblocking(False)
        transport, protocol = await loop.create_datagram_endpoint(Datagrams, sock=sock)
        same = transport.get_extra_info("socket").fileno() == sock.fileno()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.sendto(b"via sock=", sock.getsockname())
            await protocol.next_event()
        await _close(transport, protocol)
        return same, protocol.received[0][0]

    assert run_aio(main) == (True, b"via sock=")


def test_error_received_for_a_refused_datagram(run_aio: Callable[..., Any]) -> None:
    """A connected UDP socket learns (through ICMP) that nobody listens: error_received."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
            gone.bind((LOCALHOST, 0))
            address = gone.getsockname()
        transport, protocol = await loop.create_datagram_endpoint(Datagrams, remote_addr=address)
        transport.sendto(b"anyone?")
        await protocol.next_event()
        await _close(transport, protocol)
        return [type(exc).__name__ for exc in protocol.errors]

    assert run_aio(main) == ["ConnectionRefusedError"]


def _loopback_broadcast_works() -> bool:
    """Whether this host delivers a datagram sent to 127.255.255.255 with SO_BROADCAST."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("0.0.0.0", 0))  # broadcasts arrive on the wildcard address
        receiver.settimeout(1)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            sender.sendto(b"probe", ("127.255.255.255", receiver.getsockname()[1]))
            return receiver.recv(10) == b"probe"
        except OSError:
            return False


@pytest.mark.skipif(
    not _loopback_broadcast_works(), reason="this host does not deliver loopback broadcasts"
)
def test_allow_broadcast(run_aio: Callable[..., Any]) -> None:
    """allow_broadcast sets SO_BROADCAST; without it the kernel refuses (error_received)."""

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        receiver_transport, receiver = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("0.0.0.0", 0)
        )
        target = ("127.255.255.255", receiver_transport.get_extra_info("sockname")[1])
        results: list[object] = []
        for allow in (True, False):
            transport, protocol = await loop.create_datagram_endpoint(
                Datagrams, local_addr=(LOCALHOST, 0), allow_broadcast=allow
            )
            sock = transport.get_extra_info("socket")
            results.append(bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)))
            transport.sendto(b"broadcast", target)
            if allow:
                await receiver.next_event()
                results.append(receiver.received[-1][0])
            else:
                await protocol.next_event()
                results.append(type(protocol.errors[0]).__name__)
            await _close(transport, protocol)
        await _close(receiver_transport, receiver)
        return results

    assert run_aio(main) == [True, b"broadcast", False, "PermissionError"]


def test_reuse_port_for_datagrams(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        first, p1 = await loop.create_datagram_endpoint(
            Datagrams, local_addr=(LOCALHOST, 0), reuse_port=True
        )
        port = first.get_extra_info("sockname")[1]
        second, p2 = await loop.create_datagram_endpoint(
            Datagrams, local_addr=(LOCALHOST, port), reuse_port=True
        )
        same = second.get_extra_info("sockname")[1] - port
        option = bool(
            second.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        )
        await _close(first, p1)
        await _close(second, p2)
        return same, option

    assert run_aio(main) == (0, True)


def test_many_datagrams_and_buffer_size(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        server_transport, server = await loop.create_datagram_endpoint(
            Datagrams, local_addr=(LOCALHOST, 0)
        )
        client_transport, client = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=server_transport.get_extra_info("sockname")
        )
        for i in range(100):
            client_transport.sendto(b"%03d" % i)
            if i % 10 == 9:  # let the receiver keep up (a full UDP buffer drops datagrams)
                while len(server.received) <= i:
                    await server.next_event()
        buffered = client_transport.get_write_buffer_size()
        await _close(client_transport, client)
        await _close(server_transport, server)
        return len(server.received), buffered

    assert run_aio(main) == (100, 0)


def test_argument_errors(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        outcomes = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.setblocking(False)
            tcp.setblocking(False)
            for kwargs in ({"sock": udp, "local_addr": (LOCALHOST, 0)}, {"sock": tcp}):
                try:
                    await loop.create_datagram_endpoint(Datagrams, **kwargs)
                except ValueError as exc:
                    outcomes.append(str(exc))
        return outcomes

    outcomes = run_aio(main)
    assert len(outcomes) == 2
    assert outcomes[0].startswith("socket modifier keyword arguments can not be used")
    # "A UDP Socket was expected" until 3.12, "A datagram socket was expected" after.
    assert " was expected, got <socket.socket" in outcomes[1]
