"""httpx on asyncio (through anyio's asyncio backend) next to httpx on Trio.

The server is a small HTTP/1.1 server written for Trio with h11 (httpx's own
dependency), optionally over TLS. The same Trio program then makes requests
with httpx from asyncio tasks (anyio must pick its asyncio backend there) and
from Trio tasks (anyio's Trio backend).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import h11
import httpx
import sniffio
import trio

from aiotrio import aio_as_trio, run_asyncio

from ._harness import loopback_tls_contexts, run, trio_heartbeat

if TYPE_CHECKING:
    import ssl


@dataclass
class ServerLog:
    """What the Trio server saw."""

    slow_started: trio.Event = field(default_factory=trio.Event)
    requests: list[str] = field(default_factory=list)


async def _respond(
    stream: trio.abc.Stream, conn: h11.Connection, target: str, log: ServerLog
) -> None:
    async def send(event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            await stream.send_all(data)

    log.requests.append(target)
    if target.startswith("/slow"):
        log.slow_started.set()
        await trio.sleep(30)
    if target.startswith("/stream"):
        await send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
        for i in range(20):
            await send(h11.Data(data=f"part {i};".encode()))
            await trio.sleep(0.005)
        await send(h11.EndOfMessage())
        return
    body = f"{target} served by {sniffio.current_async_library()}".encode()
    await send(h11.Response(status_code=200, headers=[("content-length", str(len(body)))]))
    await send(h11.Data(data=body))
    await send(h11.EndOfMessage())


async def serve_http(log: ServerLog, stream: trio.abc.Stream) -> None:
    """One keep-alive HTTP/1.1 connection, h11 over a Trio stream."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(bytes(data))
            elif isinstance(event, h11.Request):
                await _respond(stream, conn, event.target.decode(), log)
            elif isinstance(event, h11.EndOfMessage):
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
        return  # the client went away: normal for cancelled requests
    finally:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)


async def start_server(
    nursery: trio.Nursery, log: ServerLog, ssl_context: ssl.SSLContext | None = None
) -> int:
    handler = functools.partial(serve_http, log)
    if ssl_context is not None:
        listeners = await nursery.start(
            functools.partial(trio.serve_ssl_over_tcp, handler, 0, ssl_context, host="127.0.0.1")
        )
    else:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
    listener = listeners[0]
    if isinstance(listener, trio.SSLListener):
        listener = listener.transport_listener
    return int(listener.socket.getsockname()[1])


async def library_view() -> tuple[str, type[BaseException], float]:
    """What anyio and sniffio say about the code calling this."""
    return sniffio.current_async_library(), anyio.get_cancelled_exc_class(), anyio.current_time()


def test_httpx_from_asyncio_and_trio_side_by_side() -> None:
    async def main() -> None:
        log = ServerLog()
        async with trio.open_nursery() as servers, trio_heartbeat() as heartbeat:
            port = await start_server(servers, log)
            base = f"http://127.0.0.1:{port}"

            async def asyncio_side() -> list[str]:
                assert (await library_view())[:2] == ("asyncio", asyncio.CancelledError)
                assert abs(anyio.current_time() - asyncio.get_running_loop().time()) < 0.01
                async with httpx.AsyncClient(base_url=base) as client:
                    responses = await asyncio.gather(*(client.get(f"/a{i}") for i in range(10)))
                return [r.text for r in responses]

            async def trio_side() -> list[str]:
                assert (await library_view())[:2] == ("trio", trio.Cancelled)
                async with httpx.AsyncClient(base_url=base) as client:
                    return [(await client.get(f"/t{i}")).text for i in range(10)]

            results: dict[str, list[str]] = {}

            async def run_side(name: str, fn: object) -> None:
                results[name] = await fn()  # type: ignore[operator]

            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    run_side, "asyncio", functools.partial(run_asyncio, asyncio_side)
                )
                nursery.start_soon(run_side, "trio", trio_side)
            assert results["asyncio"] == [f"/a{i} served by trio" for i in range(10)]
            assert results["trio"] == [f"/t{i} served by trio" for i in range(10)]
            assert heartbeat.beats > 0
            servers.cancel_scope.cancel()

    run(main)


def test_httpx_streaming_tls_timeout_and_cancellation() -> None:
    server_context, client_context = loopback_tls_contexts()

    async def main() -> None:
        log = ServerLog()
        async with trio.open_nursery() as servers:
            port = await start_server(servers, log, server_context)
            base = f"https://127.0.0.1:{port}"
            # Made in Trio, used from asyncio: httpx binds to no loop until used.
            client = httpx.AsyncClient(base_url=base, verify=client_context)
            async with aio_as_trio(client):
                response = await aio_as_trio(client.get("/hello"))
                assert response.status_code == 200
                assert response.http_version == "HTTP/1.1"
                assert response.text == "/hello served by trio"

                # A streamed body read from Trio, chunk by chunk.
                async with aio_as_trio(client.stream("GET", "/stream")) as streamed:
                    parts = [chunk async for chunk in aio_as_trio(streamed.aiter_text())]
                assert "".join(parts) == "".join(f"part {i};" for i in range(20))

                # httpx's timeout is an anyio cancel scope on the asyncio side.
                try:
                    await aio_as_trio(client.get("/slow", timeout=0.2))
                except httpx.ReadTimeout:
                    pass
                else:
                    raise AssertionError("no ReadTimeout")

                # A request cancelled by a Trio cancel scope mid-response.
                saw: list[type[BaseException]] = []

                async def slow_request() -> None:
                    try:
                        await client.get("/slow", timeout=30)
                    except BaseException as exc:
                        saw.append(type(exc))
                        raise

                log.slow_started = trio.Event()
                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(run_asyncio, slow_request)
                        await log.slow_started.wait()
                        scope.cancel()
                assert scope.cancelled_caught
                assert saw == [asyncio.CancelledError]

                # The client's pool recovered: further requests work.
                again = await aio_as_trio(client.get("/again"))
                assert again.text == "/again served by trio"
            servers.cancel_scope.cancel()

    run(main)


def test_anyio_primitives_inside_asyncio_tasks() -> None:
    """anyio task groups, cancel scopes and threads, used by asyncio code on aiotrio."""

    async def asyncio_side() -> list[str]:
        events: list[str] = []

        async def child(name: str, delay: float) -> None:
            await anyio.sleep(delay)
            events.append(name)

        async with anyio.create_task_group() as tg:
            tg.start_soon(child, "b", 0.02)
            tg.start_soon(child, "a", 0.01)

        # A cancel scope's deadline cancels the asyncio task and is swallowed.
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep(10)
        assert scope.cancelled_caught
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

        # Threads, and calls back into the loop from them.
        def in_thread() -> str:
            assert threading.current_thread() is not threading.main_thread()
            return anyio.from_thread.run(library_view)[0]

        events.append(await anyio.to_thread.run_sync(in_thread))

        # A failing child cancels its siblings (asyncio tasks) and raises a group.
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 10)
                tg.start_soon(child, "never", 10)
                await anyio.sleep(0.01)
                raise KeyError("boom")
        except* KeyError:
            events.append("group failed")
        return events

    async def main() -> None:
        async with trio_heartbeat() as heartbeat:
            events = await run_asyncio(asyncio_side)
        assert events == ["a", "b", "asyncio", "group failed"]
        assert heartbeat.beats > 0

        # Cancelling from Trio: anyio's asyncio task group unwinds and reports it.
        cancelled: list[bool] = []

        async def hang() -> None:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.sleep, 10)
                    await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                cancelled.append(True)
                raise

        with trio.move_on_after(0.1) as scope:
            await run_asyncio(hang)
        assert scope.cancelled_caught
        assert cancelled == [True]

    run(main)
