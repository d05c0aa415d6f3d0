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
import trio
import trio.testing
import trustme

import aiotrio

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


async def settle() -> None:
    """From asyncio code on aiotrio: return once the loop and every Trio task are idle.

    Whatever was ready (fd events, callbacks, Trio watchers) has run by then: a
    deterministic "nothing more happens" instead of sleeping for a while. Something that
    keeps the loop busy forever fails here after 30 s instead of hanging.
    """
    await aiotrio.run_trio(_all_tasks_blocked)


async def _all_tasks_blocked() -> None:
    with trio.fail_after(30):
        await trio.testing.wait_all_tasks_blocked()


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
