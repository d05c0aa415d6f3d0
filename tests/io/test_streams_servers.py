"""create_connection, create_server, Server, streams, flow control, half-close, extra info."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import LOCALHOST, echo_lines, settle

if TYPE_CHECKING:
    from collections.abc import Callable


async def _round_trip(host: str, port: int, message: bytes, **kwargs: Any) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, **kwargs)
    try:
        writer.write(message + b"\n")
        await writer.drain()
        return (await reader.readline()).rstrip(b"\n")
    finally:
        writer.close()
        await writer.wait_closed()


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


class Collector(asyncio.Protocol):
    """Records what happens to it; `closed` resolves at connection_lost.

    `received(...)` waits until the data collected so far is enough, woken by each arrival
    (a deterministic wait: no polling, no sleeps).
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.data = bytearray()
        self.eof = False
        self.events: list[str] = []
        self.made = loop.create_future()
        self.closed: asyncio.Future[BaseException | None] = loop.create_future()
        self._arrived = asyncio.Event()

    async def received(self, size: int = 0, *, line: bool = False, timeout: float = 30) -> None:
        """Wait until `size` bytes (or, with `line`, a newline) have arrived; fail at once if
        the connection is lost first, or after `timeout` s, with what came so far.

        A failure aborts this side of the connection first: the peer's server then sees it
        close, so a failing test's ``async with server:`` does not wait forever (3.12+)."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.data) < size or (line and b"\n" not in self.data):
                    if self.closed.done():
                        break
                    self._arrived.clear()
                    await self._arrived.wait()
                else:
                    return
        except TimeoutError:
            pass
        if self.transport is not None:
            self.transport.abort()
        pytest.fail(f"waited for {size} bytes (line: {line}), got {bytes(self.data[:200])!r}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.data += data
        self._arrived.set()

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed.set_result(exc)
        self._arrived.set()


class EchoProtocol(Collector):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        assert self.transport is not None
        self.transport.write(data)


class Accepted:
    """A server's protocol factory that remembers the protocols it made."""

    def __init__(self, protocol: type[Collector] = Collector) -> None:
        self.protocol = protocol
        self.made: list[Collector] = []
        self._arrived = asyncio.Event()

    def __call__(self) -> Collector:
        self.made.append(self.protocol())
        self._arrived.set()
        return self.made[-1]

    async def first(self) -> Collector:
        """The first connection's protocol, once connected (waits 30 s at most)."""
        await asyncio.wait_for(self._arrived.wait(), 30)
        await asyncio.wait_for(self.made[0].made, 30)
        return self.made[0]

    def abort_all(self) -> None:
        """Drop the server's side of every connection (a failing test's way out: from 3.12
        on, leaving ``async with server:`` waits until every connection has closed)."""
        for protocol in self.made:
            if protocol.transport is not None and not protocol.closed.done():
                protocol.transport.abort()

    async def all_closed(self) -> None:
        """Wait for the server's side of every connection to close.

        Server.wait_closed only waits for connections from 3.12 on; without this a 3.11 test
        could close the loop while a server transport is still handling the client's EOF.
        """
        await asyncio.wait_for(asyncio.gather(*(p.closed for p in self.made)), 30)


# -- streams ----------------------------------------------------------------------------


def test_stream_echo_server_and_clients(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[bytes]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        async with server:
            port = _port(server)
            return list(
                await asyncio.gather(
                    *(_round_trip(LOCALHOST, port, b"hello %d" % i) for i in range(10))
                )
            )

    assert run_aio(main) == [b"hello %d" % i for i in range(10)]


def test_stream_reader_methods_and_eof(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[object]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"line one\nfixed" + b"ABCD" + b"<sep>rest")
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, LOCALHOST, 0)
        async with server:
            reader, writer = await asyncio.open_connection(LOCALHOST, _port(server))
            results: list[object] = [
                await reader.readline(),
                await reader.readexactly(5),
                await reader.read(4),
                await reader.readuntil(b"<sep>"),
            ]
            results.append(await reader.read())
            results.append(reader.at_eof())
            with pytest.raises(asyncio.IncompleteReadError):
                await reader.readexactly(1)
            writer.close()
            await writer.wait_closed()
            return results

    assert run_aio(main) == [b"line one\n", b"fixed", b"ABCD", b"<sep>", b"rest", True]


def test_half_close_with_write_eof(run_aio: Callable[..., Any]) -> None:
    """The client ends its side; the server reads to EOF and still answers."""

    async def main() -> tuple[bool, bytes, bool]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until the client's EOF
            writer.write(b"got %d bytes" % len(data))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, LOCALHOST, 0)
        async with server:
            reader, writer = await asyncio.open_connection(LOCALHOST, _port(server))
            can = writer.can_write_eof()
            writer.write(b"x" * 100_000)
            writer.write_eof()
            await writer.drain()
            reply = await reader.read()
            eof = reader.at_eof()
            writer.close()
            await writer.wait_closed()
            return can, reply, eof

    assert run_aio(main) == (True, b"got 100000 bytes", True)


def test_drain_waits_until_the_peer_reads(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, int, int]:
        start_reading = asyncio.Event()
        received = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await start_reading.wait()
            received.set_result(len(await reader.read()))
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, LOCALHOST, 0)
        async with server:
            _, writer = await asyncio.open_connection(LOCALHOST, _port(server))
            writer.write(b"x" * (16 << 20))  # far more than the socket buffers
            drain = asyncio.ensure_future(writer.drain())
            await settle()
            blocked = not drain.done()
            start_reading.set()
            await asyncio.wait_for(drain, 30)
            buffered_after = writer.transport.get_write_buffer_size()
            writer.write_eof()
            total = await asyncio.wait_for(received, 30)
            writer.close()
            await writer.wait_closed()
            return blocked, buffered_after, total

    blocked, buffered_after, total = run_aio(main)
    assert blocked
    assert buffered_after <= 65536  # drain returns once below the low-water mark
    assert total == 16 << 20


def test_write_buffer_limits_pause_and_resume_the_protocol(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[list[str], tuple[int, int], bool, bool, int]:
        loop = asyncio.get_running_loop()
        accepted = Accepted()
        server = await loop.create_server(accepted, LOCALHOST, 0)
        async with server:
            transport, client = await loop.create_connection(Collector, LOCALHOST, _port(server))
            try:
                peer = await accepted.first()
                assert peer.transport is not None
                peer.transport.pause_reading()  # the server stops reading: the client backs up
                paused_is_reading = peer.transport.is_reading()
                transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
                limits = transport.get_write_buffer_limits()
                for _ in range(200):
                    transport.write(b"y" * 65536)
                await settle()  # everything that could happen has: nothing drains
                events_while_paused = list(client.events)
                peer.transport.resume_reading()
                resumed_is_reading = peer.transport.is_reading()
                transport.close()  # after the buffer has drained (resume_writing on the way)
                await client.closed
                await peer.closed
            finally:
                if not client.closed.done():
                    transport.abort()
                accepted.abort_all()
            assert events_while_paused == ["pause_writing"]
            return client.events, limits, paused_is_reading, resumed_is_reading, len(peer.data)

    events, limits, paused, resumed, received = run_aio(main)
    assert events == ["pause_writing", "resume_writing"]
    assert limits == (16 * 1024, 64 * 1024)
    assert (paused, resumed) == (False, True)
    assert received == 200 * 65536


def test_paused_reading_delivers_nothing_until_resumed(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        accepted = Accepted(EchoProtocol)
        server = await loop.create_server(accepted, LOCALHOST, 0)
        async with server:
            transport, client = await loop.create_connection(Collector, LOCALHOST, _port(server))
            transport.pause_reading()
            transport.write(b"echo me")
            await settle()
            while_paused = bytes(client.data)
            transport.resume_reading()
            await client.received(7)
            transport.close()
            await client.closed
            await accepted.all_closed()
            return while_paused, bytes(client.data)

    assert run_aio(main) == (b"", b"echo me")


def test_stream_reader_limit_pauses_the_transport(run_aio: Callable[..., Any]) -> None:
    """A StreamReader over twice its limit pauses reading; consuming resumes it."""

    async def main() -> tuple[bool, int]:
        states: list[bool] = []
        done = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await settle()  # the client has filled our buffer
            states.append(writer.transport.is_reading())
            data = await reader.read()  # needs reading resumed to get it all
            done.set_result(len(data))
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, LOCALHOST, 0, limit=1024)
        async with server:
            _, writer = await asyncio.open_connection(LOCALHOST, _port(server))
            writer.write(b"z" * 200_000)
            writer.write_eof()
            await writer.drain()
            total = await asyncio.wait_for(done, 30)
            writer.close()
            await writer.wait_closed()
            return states[0], total

    assert run_aio(main) == (False, 200_000)


def test_extra_info(run_aio: Callable[..., Any]) -> None:
    async def main() -> dict[str, object]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        async with server:
            _, writer = await asyncio.open_connection(LOCALHOST, _port(server))
            sock = writer.get_extra_info("socket")
            info = {
                "peername": writer.get_extra_info("peername"),
                "sockname_host": writer.get_extra_info("sockname")[0],
                "family": sock.family,
                "type": sock.type,
                "fileno_matches": sock.fileno() >= 0,
                "default": writer.get_extra_info("no such key", "default"),
                "no ssl": writer.get_extra_info("ssl_object"),
            }
            writer.close()
            await writer.wait_closed()
            return {**info, "port": _port(server)}

    info = run_aio(main)
    assert info == {
        "peername": (LOCALHOST, info["port"]),
        "sockname_host": LOCALHOST,
        "family": socket.AF_INET,
        "type": socket.SOCK_STREAM,
        "fileno_matches": True,
        "default": "default",
        "no ssl": None,
        "port": info["port"],
    }


# -- create_connection -------------------------------------------------------------------


def test_create_connection_with_local_addr(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        accepted = Accepted()
        server = await loop.create_server(accepted, LOCALHOST, 0)
        async with server:
            with socket.socket() as probe:  # find a free local port to bind to
                probe.bind((LOCALHOST, 0))
                local_port = probe.getsockname()[1]
            transport, client = await loop.create_connection(
                Collector, LOCALHOST, _port(server), local_addr=(LOCALHOST, local_port)
            )
            peer = await accepted.first()
            assert peer.transport is not None
            seen_by_server = peer.transport.get_extra_info("peername")
            sockname = transport.get_extra_info("sockname")
            transport.close()
            await client.closed
            await accepted.all_closed()
            return sockname, seen_by_server, (LOCALHOST, local_port)

    sockname, seen_by_server, wanted = run_aio(main)
    assert sockname == seen_by_server == wanted


def test_create_connection_with_sock(run_aio: Callable[..., Any]) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        accepted = Accepted(EchoProtocol)
        server = await loop.create_server(accepted, LOCALHOST, 0)
        async with server:
            sock = socket.create_connection((LOCALHOST, _port(server)))
            sock.setblocking(False)
            transport, client = await loop.create_connection(Collector, sock=sock)
            assert transport.get_extra_info("socket").fileno() == sock.fileno()
            transport.write(b"via sock=")
            await client.received(9)
            transport.close()
            await client.closed
            await accepted.all_closed()
            return bytes(client.data)

    assert run_aio(main) == b"via sock="


def _fake_resolver(loop: asyncio.AbstractEventLoop, *ports: int) -> None:
    """Make the name "aiotrio.test" resolve to 127.0.0.1 on each of `ports`, in order."""

    async def getaddrinfo(host: str, port: object, **kwargs: Any) -> list[Any]:
        assert host == "aiotrio.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (LOCALHOST, p))
            for p in ports
        ]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]


def _black_hole() -> tuple[socket.socket, socket.socket]:
    """A listener whose accept queue is full: connecting to it hangs (SYNs are dropped)."""
    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())
    return listener, filler


def test_create_connection_happy_eyeballs(run_aio: Callable[..., Any]) -> None:
    """The first address never answers; happy eyeballs starts the second after the delay."""

    async def main() -> tuple[int, int, float]:
        loop = asyncio.get_running_loop()
        listener, filler = _black_hole()
        with listener, filler:
            accepted = Accepted()
            server = await loop.create_server(accepted, LOCALHOST, 0)
            async with server:
                _fake_resolver(loop, listener.getsockname()[1], _port(server))
                start = time.monotonic()
                transport, client = await loop.create_connection(
                    Collector, "aiotrio.test", 80, happy_eyeballs_delay=0.1
                )
                elapsed = time.monotonic() - start
                port = transport.get_extra_info("peername")[1]
                await accepted.first()  # else the accept may race the loop's shutdown
                transport.close()
                await client.closed
                await accepted.all_closed()
                return port, _port(server), elapsed

    port, wanted, elapsed = run_aio(main)
    assert port == wanted
    # A plain sequential connect would wait minutes on the first address (SYN retries);
    # the bound is loose so that busy cores cannot reach it.
    assert 0.09 <= elapsed < 45


def test_create_connection_tries_addresses_in_turn(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        with socket.socket() as closed:
            closed.bind((LOCALHOST, 0))  # bound, not listening: connections are refused
            accepted = Accepted()
            server = await loop.create_server(accepted, LOCALHOST, 0)
            async with server:
                _fake_resolver(loop, closed.getsockname()[1], _port(server))
                transport, client = await loop.create_connection(
                    Collector, "aiotrio.test", 80, interleave=1
                )
                port = transport.get_extra_info("peername")[1]
                await accepted.first()  # else the accept may race the loop's shutdown
                transport.close()
                await client.closed
                await accepted.all_closed()
                return port, _port(server)

    port, wanted = run_aio(main)
    assert port == wanted


def test_create_connection_reports_failures(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        outcomes = []
        with socket.socket() as one, socket.socket() as two:
            one.bind((LOCALHOST, 0))
            two.bind((LOCALHOST, 0))
            try:
                await loop.create_connection(Collector, LOCALHOST, one.getsockname()[1])
            except ConnectionRefusedError:
                outcomes.append("refused")
            _fake_resolver(loop, one.getsockname()[1], two.getsockname()[1])
            try:
                await loop.create_connection(Collector, "aiotrio.test", 80)
            except OSError as exc:
                outcomes.append(str(exc).split(":")[0])
            if sys.version_info >= (3, 12):
                try:
                    await loop.create_connection(Collector, "aiotrio.test", 80, all_errors=True)
                except ExceptionGroup as group:
                    outcomes.append(
                        " ".join(sorted(type(exc).__name__ for exc in group.exceptions))
                    )
        return outcomes

    expected = ["refused", "Multiple exceptions"]
    if sys.version_info >= (3, 12):
        expected.append("ConnectionRefusedError ConnectionRefusedError")
    assert run_aio(main) == expected


def test_create_connection_argument_errors(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        outcomes = []
        for kwargs in (
            {"host": LOCALHOST, "port": 1, "ssl_handshake_timeout": 1.0},
            {"host": None, "port": None},
        ):
            try:
                await loop.create_connection(Collector, **kwargs)
            except ValueError as exc:
                outcomes.append(str(exc))
        return outcomes

    assert run_aio(main) == [
        "ssl_handshake_timeout is only meaningful with ssl",
        "host and port was not specified and no sock specified",
    ]


# -- create_server and Server ------------------------------------------------------------


def test_create_server_on_several_hosts(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[list[str], list[bytes]]:
        server = await asyncio.start_server(echo_lines, ["127.0.0.1", "127.0.0.2"], 0)
        async with server:
            # Port 0: each host gets a port of its own.
            addresses = sorted(sock.getsockname() for sock in server.sockets)
            replies = [await _round_trip(host, port, host.encode()) for host, port in addresses]
            return [host for host, _ in addresses], replies

    assert run_aio(main) == (["127.0.0.1", "127.0.0.2"], [b"127.0.0.1", b"127.0.0.2"])


def test_create_server_reuse_port(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[int, bytes, bytes]:
        first = await asyncio.start_server(echo_lines, LOCALHOST, 0, reuse_port=True)
        async with first:
            port = _port(first)
            second = await asyncio.start_server(echo_lines, LOCALHOST, port, reuse_port=True)
            async with second:
                assert second.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
                same_port = _port(second) - port
                reply = await _round_trip(LOCALHOST, port, b"either")
            first_only = await _round_trip(LOCALHOST, port, b"first")
            return same_port, reply, first_only

    assert run_aio(main) == (0, b"either", b"first")


def test_start_serving_false_defers_listening(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, str, bool, bytes]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0, start_serving=False)
        async with server:
            before = server.is_serving()
            try:  # bound, not yet listening
                await _round_trip(LOCALHOST, _port(server), b"early")
            except ConnectionRefusedError:
                early = "refused"
            else:
                early = "answered"
            await server.start_serving()
            reply = await _round_trip(LOCALHOST, _port(server), b"served")
            return before, early, server.is_serving(), reply

    assert run_aio(main) == (False, "refused", True, b"served")


def test_serve_forever_until_closed(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bool, bool]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0, start_serving=False)
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        reply = await _round_trip(LOCALHOST, _port(server), b"forever")
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await serving
        await server.wait_closed()
        return reply, server.is_serving(), serving.cancelled()

    assert run_aio(main) == (b"forever", False, True)


def test_cancelling_serve_forever_closes_the_server(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bool]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        serving = asyncio.ensure_future(server.serve_forever())
        await settle()  # serve_forever has started: it closes the server when cancelled
        port = _port(server)
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        try:
            await asyncio.open_connection(LOCALHOST, port)
        except ConnectionRefusedError:
            refused = True
        else:
            refused = False
        return server.is_serving(), refused

    assert run_aio(main) == (False, True)


@pytest.mark.skipif(
    sys.version_info < (3, 12), reason="Server.wait_closed waits for connections from 3.12 on"
)
def test_wait_closed_waits_for_open_connections(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bool]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        reader, writer = await asyncio.open_connection(LOCALHOST, _port(server))
        writer.write(b"ping\n")
        await reader.readline()
        server.close()
        waiting = asyncio.ensure_future(server.wait_closed())
        await settle()
        blocked = not waiting.done()
        writer.close()  # the handler sees EOF and closes its side
        await writer.wait_closed()
        await asyncio.wait_for(waiting, 20)
        return blocked, waiting.done()

    assert run_aio(main) == (True, True)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.close_clients is new in 3.13")
def test_close_clients(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[bytes]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        clients = [await asyncio.open_connection(LOCALHOST, _port(server)) for _ in range(3)]
        for reader, writer in clients:
            writer.write(b"hi\n")
            await reader.readline()
        server.close()
        server.close_clients()  # type: ignore[attr-defined]
        eofs = [await asyncio.wait_for(reader.read(), 20) for reader, _ in clients]
        await asyncio.wait_for(server.wait_closed(), 20)
        for _, writer in clients:
            writer.close()
            await writer.wait_closed()
        return eofs

    assert run_aio(main) == [b"", b"", b""]


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.abort_clients is new in 3.13")
def test_abort_clients(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        accepted = Accepted()
        server = await loop.create_server(accepted, LOCALHOST, 0)
        transport, client = await loop.create_connection(Collector, LOCALHOST, _port(server))
        await accepted.first()  # the server has a client to abort
        server.close()
        server.abort_clients()  # type: ignore[attr-defined]
        outcome = await asyncio.wait_for(client.closed, 20)
        await asyncio.wait_for(server.wait_closed(), 20)
        transport.close()
        # An abort is a reset (or, if it lost the race, a plain EOF).
        return [type(outcome).__name__ if outcome else ("eof" if client.eof else "closed")]

    assert run_aio(main)[0] in ("ConnectionResetError", "eof")


def test_connect_accepted_socket(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        with socket.socket() as listener:
            listener.bind((LOCALHOST, 0))
            listener.listen(1)
            listener.setblocking(False)
            client_side = asyncio.ensure_future(asyncio.open_connection(*listener.getsockname()))
            conn, _ = await loop.sock_accept(listener)
            _, protocol = await loop.connect_accepted_socket(EchoProtocol, conn)
            reader, writer = await client_side
            writer.write(b"accepted\n")
            reply = await reader.readline()
            writer.close()
            await writer.wait_closed()
            await protocol.closed
            return reply, bytes(protocol.data)

    assert run_aio(main) == (b"accepted\n", b"accepted\n")


def test_server_close_leaves_the_port_free_and_context_manager(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bool]:
        server = await asyncio.start_server(echo_lines, LOCALHOST, 0)
        port = _port(server)
        async with server:
            serving = server.is_serving()
        await server.wait_closed()
        again = await asyncio.start_server(echo_lines, LOCALHOST, port)  # SO_REUSEADDR is set
        async with again:
            return serving, again.is_serving()

    assert run_aio(main) == (True, True)
