"""loop.sendfile on transports: the native path (os.sendfile) where possible, else the fallback."""

from __future__ import annotations

import asyncio
import io
import os
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import LOCALHOST
from .test_streams_servers import Accepted, Collector

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from pathlib import Path

CONTENT = os.urandom(1 << 20)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def native_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Records calls of os.sendfile (the native path) while still making them."""
    calls: list[tuple[Any, ...]] = []
    real_sendfile = os.sendfile

    def recording_sendfile(*args: Any) -> int:
        calls.append(args)
        return real_sendfile(*args)

    monkeypatch.setattr(os, "sendfile", recording_sendfile)
    return calls


async def _send_over(
    file: Any,
    *,
    ssl_pair: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
    **sendfile_kwargs: Any,
) -> tuple[int, bytes, int]:
    """sendfile `file` over a fresh TCP (or TLS) connection; return (sent, received, position)."""
    loop = asyncio.get_running_loop()
    accepted = Accepted()
    server_ssl, client_ssl = ssl_pair if ssl_pair else (None, None)
    server = await loop.create_server(accepted, LOCALHOST, 0, ssl=server_ssl)
    async with server:
        transport, client = await loop.create_connection(
            Collector,
            LOCALHOST,
            server.sockets[0].getsockname()[1],
            ssl=client_ssl,
            server_hostname="localhost" if client_ssl else None,
        )
        try:
            sent = await loop.sendfile(transport, file, **sendfile_kwargs)
            # The server may accept only now (readiness of different fds is not ordered).
            receiver = await accepted.first()
            await receiver.received(sent)
            # The transport is still usable after sendfile.
            transport.write(b"+tail")
            await receiver.received(sent + 5)
            return sent, bytes(receiver.data), file.tell()
        except BaseException:
            accepted.abort_all()  # else a failed test's `async with server:` may wait forever
            raise
        finally:
            transport.close()
            await client.closed
            await accepted.first()  # accepted only now, perhaps: wait for its side to close too
            await accepted.all_closed()


def test_native_sendfile_over_tcp(
    run_aio: Callable[..., Any], data_file: Path, native_calls: list[tuple[Any, ...]]
) -> None:
    async def main() -> tuple[int, bytes, int]:
        with data_file.open("rb") as file:
            return await _send_over(file, fallback=False)

    assert run_aio(main) == (len(CONTENT), CONTENT + b"+tail", len(CONTENT))
    assert native_calls


def test_native_sendfile_offset_and_count(
    run_aio: Callable[..., Any], data_file: Path, native_calls: list[tuple[Any, ...]]
) -> None:
    async def main() -> tuple[int, bytes, int]:
        with data_file.open("rb") as file:
            return await _send_over(file, offset=1234, count=500_000, fallback=False)

    assert run_aio(main) == (500_000, CONTENT[1234:501_234] + b"+tail", 501_234)
    assert native_calls


@pytest.mark.parametrize("fallback", [True, False])
def test_file_without_fileno_needs_the_fallback(
    run_aio: Callable[..., Any], native_calls: list[tuple[Any, ...]], fallback: bool
) -> None:
    async def main() -> object:
        try:
            return await _send_over(io.BytesIO(CONTENT), offset=10, fallback=fallback)
        except asyncio.SendfileNotAvailableError:
            return "not available"

    if fallback:
        assert run_aio(main) == (len(CONTENT) - 10, CONTENT[10:] + b"+tail", len(CONTENT))
    else:
        assert run_aio(main) == "not available"
    assert native_calls == []


@pytest.mark.parametrize("fallback", [True, False])
def test_tls_transport_forces_the_fallback(  # noqa: PLR0917 (pytest fixtures)
    run_aio: Callable[..., Any],
    data_file: Path,
    native_calls: list[tuple[Any, ...]],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    fallback: bool,
) -> None:
    """os.sendfile would bypass the encryption: a TLS transport copies through the protocol."""

    async def main() -> object:
        with data_file.open("rb") as file:
            try:
                return await _send_over(
                    file, ssl_pair=(server_ctx, client_ctx), count=300_000, fallback=fallback
                )
            except RuntimeError as exc:
                return str(exc).split(" for transport")[0]

    if fallback:
        assert run_aio(main) == (300_000, CONTENT[:300_000] + b"+tail", 300_000)
    else:
        assert run_aio(main) == "fallback is disabled and native sendfile is not supported"
    assert native_calls == []


def test_sendfile_over_unix_sockets_is_native(
    run_aio: Callable[..., Any],
    data_file: Path,
    native_calls: list[tuple[Any, ...]],
    sock_dir: str,
) -> None:
    path = os.path.join(sock_dir, "f")

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        received = loop.create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.read())
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_unix_server(serve, path)
        async with server:
            _, writer = await asyncio.open_unix_connection(path)
            with data_file.open("rb") as file:
                await loop.sendfile(writer.transport, file, fallback=False)
            writer.write_eof()
            data = await asyncio.wait_for(received, 30)
            writer.close()
            await writer.wait_closed()
            return data  # type: ignore[no-any-return]

    assert run_aio(main) == CONTENT
    assert native_calls


def test_sendfile_checks_its_arguments(run_aio: Callable[..., Any], data_file: Path) -> None:
    async def main() -> list[str]:
        outcomes = []
        with data_file.open("rb") as file, data_file.open("r") as text_file:
            for kwargs in (
                {"file": text_file},
                {"file": file, "offset": -1},
                {"file": file, "count": 0},
            ):
                try:
                    await _send_over(**kwargs)
                except ValueError as exc:
                    outcomes.append(str(exc).split(":")[0].split(",")[0])
        return outcomes

    outcomes = run_aio(main)
    assert len(outcomes) == 3
    assert "binary mode" in outcomes[0]
    assert "offset must be a non-negative integer" in outcomes[1]
    assert "count must be a positive integer" in outcomes[2]
