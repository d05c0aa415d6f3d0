"""websockets' asyncio implementation: server and client in one Trio program."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from aiotrio import aio_as_trio, run_asyncio

from ._harness import loopback_tls_contexts, run, trio_heartbeat, wait_asyncio_event

if TYPE_CHECKING:
    import ssl


@dataclass
class Seen:
    """What the server saw, for the test to check."""

    close_codes: list[int | None] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


async def handler(seen: Seen, ws: ServerConnection) -> None:
    try:
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send(message[::-1])
            elif message == "close-me":
                await ws.close(4001, "bye")
            elif message.startswith("count "):
                for i in range(int(message.split()[1])):
                    await ws.send(str(i))
                await ws.close()  # 1000: the client's iteration simply ends
            else:
                await ws.send(f"echo {message}")
    except ConnectionClosed:
        pass
    seen.close_codes.append(ws.close_code)
    seen.closed.set()


async def start(seen: Seen, ssl_context: ssl.SSLContext | None = None) -> tuple[Server, int]:
    server = await serve(
        functools.partial(handler, seen),
        "127.0.0.1",
        0,
        ssl=ssl_context,
        ping_interval=0.05,  # keepalive pings run on asyncio timers
        ping_timeout=2,
    )
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port


async def stop(server: Server) -> None:
    server.close()
    await server.wait_closed()


async def open_client(url: str, **kwargs: object) -> ClientConnection:
    return await connect(url, ping_interval=0.05, ping_timeout=2, **kwargs)  # type: ignore[arg-type]


def test_messages_ping_pong_keepalive_and_cancelled_recv() -> None:
    async def main() -> None:
        seen = Seen()
        server, port = await run_asyncio(start, seen)
        try:
            ws = await run_asyncio(open_client, f"ws://127.0.0.1:{port}")
            async with aio_as_trio(ws), trio_heartbeat() as heartbeat:
                await aio_as_trio(ws.send("hi"))
                assert await aio_as_trio(ws.recv()) == "echo hi"
                await aio_as_trio(ws.send(b"\x01\x02\x03"))
                assert await aio_as_trio(ws.recv()) == b"\x03\x02\x01"

                # ping() returns a future resolved by the pong: its latency.
                pong = await aio_as_trio(ws.ping(b"payload"))
                latency = await aio_as_trio(pong)
                assert 0 <= latency < 1

                # Idle for several keepalive intervals while Trio works.
                await trio.sleep(0.3)
                assert heartbeat.beats > 10
                with trio.fail_after(10):  # a keepalive ping's pong sets it (every 50 ms)
                    while not ws.latency:
                        await trio.sleep(0.01)

                # recv() is cancel-safe: cancelled from Trio, the connection lives.
                with trio.move_on_after(0.05) as scope:
                    await aio_as_trio(ws.recv())
                assert scope.cancelled_caught
                await aio_as_trio(ws.send("again"))
                assert await aio_as_trio(ws.recv()) == "echo again"

                # Iterating from Trio until the server closes normally.
                await aio_as_trio(ws.send("count 50"))
                received = [message async for message in aio_as_trio(ws)]
                assert received == [str(i) for i in range(50)]
                assert ws.close_code == 1000
            await wait_asyncio_event(seen.closed)
            assert seen.close_codes == [1000]
        finally:
            await run_asyncio(stop, server)

    run(main)


def test_close_codes_both_ways() -> None:
    async def main() -> None:
        seen = Seen()
        server, port = await run_asyncio(start, seen)
        url = f"ws://127.0.0.1:{port}"
        try:
            # The server closes with 4001: the client's recv() raises with it.
            ws = await run_asyncio(open_client, url)
            async with aio_as_trio(ws):
                await aio_as_trio(ws.send("close-me"))
                try:
                    await aio_as_trio(ws.recv())
                except ConnectionClosedError as exc:
                    assert exc.rcvd is not None
                    assert (exc.rcvd.code, exc.rcvd.reason) == (4001, "bye")
                else:
                    raise AssertionError("recv() after close-me did not raise")
            await wait_asyncio_event(seen.closed)

            # The client closes with 4002: the server sees it.
            seen.closed.clear()
            ws = await run_asyncio(open_client, url)
            await aio_as_trio(ws.send("x"))
            assert await aio_as_trio(ws.recv()) == "echo x"
            await aio_as_trio(ws.close(4002, "done"))
            assert ws.close_code == 4002
            await wait_asyncio_event(seen.closed)
            assert seen.close_codes == [4001, 4002]
        finally:
            await run_asyncio(stop, server)

    run(main)


def test_tls_and_many_clients_from_trio_tasks() -> None:
    server_context, client_context = loopback_tls_contexts()

    async def main() -> None:
        seen = Seen()
        server, port = await run_asyncio(start, seen, server_context)
        url = f"wss://127.0.0.1:{port}"
        try:
            answers: dict[int, list[str]] = {}

            async def client(i: int) -> None:
                ws = await run_asyncio(functools.partial(open_client, url, ssl=client_context))
                async with aio_as_trio(ws):
                    got = []
                    for j in range(5):
                        await aio_as_trio(ws.send(f"{i}.{j}"))
                        got.append(await aio_as_trio(ws.recv()))
                        await trio.sleep(0)
                    answers[i] = got

            async with trio.open_nursery() as nursery:
                for i in range(10):
                    nursery.start_soon(client, i)
            assert answers == {i: [f"echo {i}.{j}" for j in range(5)] for i in range(10)}
            with trio.fail_after(5):
                while len(seen.close_codes) < 10:
                    await trio.sleep(0.01)
            assert seen.close_codes == [1000] * 10
        finally:
            await run_asyncio(stop, server)

    run(main)


def test_client_cancelled_from_trio_closes_its_connection() -> None:
    """A Trio cancel scope around a client cancels it mid-recv; the server sees 1011."""

    async def main() -> None:
        seen = Seen()
        server, port = await run_asyncio(start, seen)
        try:

            async def chat() -> None:
                async with await open_client(f"ws://127.0.0.1:{port}") as ws:
                    await ws.send("hello")
                    await ws.recv()
                    await ws.recv()  # nothing comes: parked here when cancelled

            with trio.move_on_after(0.2) as scope:
                await run_asyncio(chat)
            assert scope.cancelled_caught
            # Leaving `async with` on an exception (here CancelledError) closes
            # with 1011, "internal error", as websockets does on asyncio.
            await wait_asyncio_event(seen.closed)
            assert seen.close_codes == [1011]
        finally:
            await run_asyncio(stop, server)

    run(main)
