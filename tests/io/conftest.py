"""Shared fixtures for the I/O tests: certificates, short socket paths, stock-loop references,
line-echo stream handlers."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import sys
import tempfile
from typing import TYPE_CHECKING, Any

import pytest
import trustme

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

LOCALHOST = "127.0.0.1"


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert("localhost", LOCALHOST)


@pytest.fixture
def server_ctx(tls_server_cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_server_cert.configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(tls_ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    tls_ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def sock_dir() -> Iterator[str]:
    """A short directory for AF_UNIX paths (limited to ~107 bytes; tmp_path may be longer)."""
    path = tempfile.mkdtemp(prefix="aiotrio-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_stock(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `async_fn(*args)` on asyncio's own loop: the reference aiotrio must match."""
    with asyncio.Runner() as runner:
        return runner.run(async_fn(*args))


IS_LINUX = sys.platform.startswith("linux")


async def _answer_lines(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    answer: Callable[[bytes], bytes],
) -> None:
    try:
        while line := await reader.readline():
            writer.write(answer(line))
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A stream handler: send each line back as it is until EOF, then close."""
    await _answer_lines(reader, writer, bytes)


async def upper_echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A stream handler: send each line back upper-cased until EOF, then close."""
    await _answer_lines(reader, writer, bytes.upper)
