"""Run a Trio program with an aiotrio loop open, and check it shut down cleanly.

`run` is what every integration test calls. Beyond the result of the program
it checks what a library left behind: asyncio tasks still pending when the
program ends (open_loop() would cancel them silently), warnings such as
"unclosed transport" or "Unclosed client session" (ResourceWarning, or an
error logged through the loop's exception handler), and log records at
WARNING or above. Threads and file descriptors are checked by the autouse
`no_leaks` fixture of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import ssl
import sys
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio
import trustme

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

T = TypeVar("T")

#: Time given to tasks a library finishes in the background (a connector's
#: cleanup, a closing transport) before a pending task counts as leaked.
SETTLE_TIMEOUT = 2.0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run(
    trio_main: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    allowed_logs: Iterable[str] = (),
) -> T:
    """``trio.run(trio_main)`` inside ``aiotrio.open_loop()``, then the checks.

    `allowed_logs` are regular expressions for log messages the test expects
    (an error a server logs for a request the test cancelled, say).
    """
    allowed = [re.compile(pattern) for pattern in allowed_logs]
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    unraisable: list[Any] = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            async def main() -> T:
                with trio.fail_after(timeout):
                    async with aiotrio.open_loop() as loop:
                        result = await trio_main()
                        await _assert_no_pending_tasks(loop)
                        return result

            result = trio.run(main)
            # Unclosed sessions and transports speak up when collected.
            gc.collect()
    finally:
        sys.unraisablehook = old_hook
        root.removeHandler(records)
    problems = [f"warning: {w.category.__name__}: {w.message}" for w in caught] + [
        f"unraisable: {u.exc_value!r} in {u.object!r}" for u in unraisable
    ]
    problems += [
        f"log {r.name} {r.levelname}: {r.getMessage()}"
        for r in records.records
        if not any(p.search(r.getMessage()) for p in allowed)
    ]
    assert not problems, "unclean run:\n" + "\n".join(problems)
    return result


async def _assert_no_pending_tasks(loop: asyncio.AbstractEventLoop) -> None:
    with trio.move_on_after(SETTLE_TIMEOUT):
        while any(not t.done() for t in asyncio.all_tasks(loop)):
            await trio.sleep(0.01)
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    assert not pending, f"asyncio tasks leaked: {pending}"


@dataclass
class Heartbeat:
    """Counts the turns a Trio task got; proves Trio ran alongside asyncio."""

    beats: int = 0


@asynccontextmanager
async def trio_heartbeat(period: float = 0.001) -> AsyncIterator[Heartbeat]:
    """A Trio task that beats every `period` seconds for the block."""
    heartbeat = Heartbeat()

    async def beat() -> None:
        while True:
            await trio.sleep(period)
            heartbeat.beats += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(beat)
        yield heartbeat
        nursery.cancel_scope.cancel()


async def wait_asyncio_event(event: asyncio.Event, timeout: float = 5.0) -> None:
    """Wait from Trio until an asyncio Event is set (fails after `timeout`)."""
    with trio.fail_after(timeout):
        await aiotrio.run_asyncio(event.wait)


def loopback_tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts: a new trustme CA's certificate for 127.0.0.1, which the
    client trusts."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context
