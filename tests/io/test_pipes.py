"""connect_read_pipe and connect_write_pipe on real pipes (and a socket, which asyncio allows)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from typing import IO, TYPE_CHECKING, Any

from .conftest import settle

if TYPE_CHECKING:
    from collections.abc import Callable


class ReadPipe(asyncio.Protocol):
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.data = bytearray()
        self.events: list[str] = []
        self.got_data = asyncio.Event()
        self.closed: asyncio.Future[BaseException | None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.got_data.set()

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.closed.set_result(exc)


class WritePipe(asyncio.BaseProtocol):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed.set_result(exc)


def _pipe() -> tuple[IO[bytes], IO[bytes]]:
    r, w = os.pipe()
    return os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb", buffering=0)


def test_read_pipe_data_then_eof(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, list[str], object]:
        loop = asyncio.get_running_loop()
        read_end, write_end = _pipe()
        transport, protocol = await loop.connect_read_pipe(ReadPipe, read_end)
        loop.call_later(0.01, write_end.write, b"first ")
        await asyncio.wait_for(protocol.got_data.wait(), 20)
        write_end.write(b"second")
        write_end.close()  # EOF
        exc = await asyncio.wait_for(protocol.closed, 20)
        assert transport.is_closing()
        return bytes(protocol.data), protocol.events, exc

    assert run_aio(main) == (b"first second", ["made", "eof", "lost"], None)


def test_read_pipe_pause_and_resume(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bytes, bool]:
        loop = asyncio.get_running_loop()
        read_end, write_end = _pipe()
        with write_end:
            transport, protocol = await loop.connect_read_pipe(ReadPipe, read_end)
            transport.pause_reading()
            paused = not transport.is_reading()
            write_end.write(b"held back")
            await settle()  # the loop would have delivered it by now, were it reading
            while_paused = bytes(protocol.data)
            transport.resume_reading()
            await asyncio.wait_for(protocol.got_data.wait(), 20)
        await protocol.closed
        return while_paused, bytes(protocol.data), paused

    assert run_aio(main) == (b"", b"held back", True)


def test_write_pipe_to_read_pipe_with_flow_control(run_aio: Callable[..., Any]) -> None:
    """4 MiB through a pipe whose buffer is 64 KiB: the writer is paused and resumed."""
    payload = os.urandom(1 << 20) * 4

    async def main() -> tuple[bool, list[str], object]:
        loop = asyncio.get_running_loop()
        read_end, write_end = _pipe()
        write_transport, writer = await loop.connect_write_pipe(WritePipe, write_end)
        write_transport.set_write_buffer_limits(high=256 * 1024)
        write_transport.write(payload)  # far beyond the high-water mark: pause_writing
        await settle()  # nobody reads yet: what the pipe could take, it has taken
        buffered = write_transport.get_write_buffer_size()
        _, reader = await loop.connect_read_pipe(ReadPipe, read_end)
        while len(reader.data) < len(payload):
            await asyncio.wait_for(reader.got_data.wait(), 20)
            reader.got_data.clear()
        write_transport.close()
        exc = await writer.closed
        await reader.closed
        assert buffered > 0
        return bytes(reader.data) == payload, writer.events, exc

    assert run_aio(main) == (True, ["pause_writing", "resume_writing"], None)


def test_write_pipe_notices_the_reader_going_away(run_aio: Callable[..., Any]) -> None:
    """asyncio watches a write pipe for readability to learn that the read end closed."""

    async def main() -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        read_end, write_end = _pipe()
        transport, protocol = await loop.connect_write_pipe(WritePipe, write_end)
        transport.write(b"unread")
        loop.call_later(0.02, read_end.close)
        exc = await asyncio.wait_for(protocol.closed, 20)
        return type(exc).__name__, transport.is_closing()

    # With data still buffered it would be BrokenPipeError; this data fit in the pipe.
    assert run_aio(main) == ("NoneType", True)


def test_write_pipe_write_eof_and_abort(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, bool, object]:
        loop = asyncio.get_running_loop()
        read_end, write_end = _pipe()
        transport, protocol = await loop.connect_write_pipe(WritePipe, write_end)
        can = transport.can_write_eof()
        transport.write(b"last words")
        transport.write_eof()  # closes once the buffer is flushed
        await asyncio.wait_for(protocol.closed, 20)
        with read_end:
            data = read_end.read()
        # A second pipe, aborted with data pending: closed at once.
        read_end, write_end = _pipe()
        with read_end:
            transport, protocol = await loop.connect_write_pipe(WritePipe, write_end)
            transport.abort()
            exc = await asyncio.wait_for(protocol.closed, 20)
        return data, can, exc

    assert run_aio(main) == (b"last words", True, None)


def test_pipe_transports_accept_sockets_and_refuse_files(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[bytes, list[str]]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        with theirs:
            read_file = ours.makefile("rb", buffering=0)
            ours.close()  # the file object keeps the socket open
            transport, protocol = await loop.connect_read_pipe(ReadPipe, read_file)
            theirs.sendall(b"socket as pipe")
            await asyncio.wait_for(protocol.got_data.wait(), 20)
            transport.close()
            await protocol.closed
        errors = []
        with tempfile.TemporaryFile() as regular:
            for connect in (loop.connect_read_pipe, loop.connect_write_pipe):
                try:
                    await connect(ReadPipe, regular)
                except ValueError as exc:
                    errors.append(str(exc))
        return bytes(protocol.data), errors

    data, errors = run_aio(main)
    assert data == b"socket as pipe"
    assert errors == [
        "Pipe transport is for pipes/sockets only.",
        "Pipe transport is only for pipes, sockets and character devices",
    ]
