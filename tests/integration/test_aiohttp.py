"""aiohttp's server and client in one Trio program, through aiotrio.

The server and the client are aiohttp's own; the test's control flow is Trio,
calling into them with `run_asyncio` and `aio_as_trio`, with Trio tasks beating
alongside.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

import aiohttp
import sniffio
import trio
from aiohttp import web

import aiotrio
from aiotrio import aio_as_trio, run_asyncio

from ._harness import run, trio_heartbeat, wait_asyncio_event


@dataclass
class ServerState:
    """What the server's handlers saw, for the test to check."""

    slow_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    ws_closed: asyncio.Event = field(default_factory=asyncio.Event)
    ws_close_code: int | None = None


STATE = web.AppKey("state", ServerState)


async def hello(request: web.Request) -> web.Response:
    name = request.query.get("name", "world")
    # The handler is asyncio code: asyncio's task and sniffio's answer say so.
    assert asyncio.current_task() is not None
    return web.Response(text=f"hello {name} from {sniffio.current_async_library()}")


async def stream(request: web.Request) -> web.StreamResponse:
    count = int(request.query["n"])
    delay = float(request.query.get("delay", "0.01"))
    response = web.StreamResponse()
    await response.prepare(request)
    try:
        for i in range(count):
            await response.write(f"chunk {i}\n".encode())
            await asyncio.sleep(delay)
    except (asyncio.CancelledError, ConnectionResetError):
        request.app[STATE].stream_cancelled.set()
        raise
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        # handler_cancellation=True: the client went away mid-request.
        request.app[STATE].slow_cancelled.set()
        raise
    return web.Response(text="too late")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()  # autoping: answers the client's pings
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            if msg.data == "close-me":
                await ws.close(code=4001, message=b"bye")
            else:
                await ws.send_str(f"echo {msg.data}")
        elif msg.type is aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    state = request.app[STATE]
    state.ws_close_code = ws.close_code
    state.ws_closed.set()
    return ws


@dataclass
class Server:
    runner: web.AppRunner
    url: str
    state: ServerState


async def start_server() -> Server:
    app = web.Application()
    state = ServerState()
    app[STATE] = state
    app.add_routes(
        [
            web.get("/hello", hello),
            web.get("/stream", stream),
            web.get("/slow", slow),
            web.get("/ws", websocket),
        ]
    )
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Server(runner, f"http://127.0.0.1:{port}", state)


async def new_session(**kwargs: object) -> aiohttp.ClientSession:
    # ClientSession() needs a running asyncio loop, so it is made on the asyncio side.
    return aiohttp.ClientSession(**kwargs)  # type: ignore[arg-type]


async def get_text(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


def test_requests_concurrent_with_trio_tasks() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session), trio_heartbeat() as heartbeat:
                # Through the adapters: a context manager and an awaitable.
                async with aio_as_trio(session.get(f"{server.url}/hello")) as response:
                    assert response.status == 200
                    assert await aio_as_trio(response.text()) == "hello world from asyncio"

                # Twenty Trio tasks share one asyncio session.
                results: dict[int, tuple[int, str]] = {}

                async def fetch(i: int) -> None:
                    results[i] = await run_asyncio(
                        get_text, session, f"{server.url}/hello?name=t{i}"
                    )

                async with trio.open_nursery() as nursery:
                    for i in range(20):
                        nursery.start_soon(fetch, i)
                assert results == {i: (200, f"hello t{i} from asyncio") for i in range(20)}
                assert heartbeat.beats > 0
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_streaming_response_read_from_trio() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session), trio_heartbeat() as heartbeat:
                url = f"{server.url}/stream?n=10&delay=0.02"
                async with aio_as_trio(session.get(url)) as response:
                    lines = []
                    beats = []
                    async for line in aio_as_trio(response.content):
                        lines.append(line)
                        beats.append(heartbeat.beats)
                assert lines == [f"chunk {i}\n".encode() for i in range(10)]
                # Trio kept running while the chunks trickled in.
                assert beats[-1] - beats[0] >= 5
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_streaming_cancelled_from_trio_mid_body() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session):
                url = f"{server.url}/stream?n=100000&delay=0.001"
                got = 0
                with trio.CancelScope() as scope:
                    async with aio_as_trio(session.get(url)) as response:
                        async for _ in aio_as_trio(response.content.iter_any()):
                            got += 1
                            if got == 5:
                                scope.cancel()
                assert scope.cancelled_caught
                assert got == 5
                # The server sees the connection go away; the session still works.
                await wait_asyncio_event(server.state.stream_cancelled)
                status, text = await run_asyncio(get_text, session, f"{server.url}/hello")
                assert (status, text) == (200, "hello world from asyncio")
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_request_cancelled_from_trio_cancel_scope() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session):
                saw_cancel = []

                async def fetch_slow() -> str:
                    try:
                        async with session.get(f"{server.url}/slow") as response:
                            return await response.text()
                    except asyncio.CancelledError:
                        saw_cancel.append(True)
                        raise

                with trio.move_on_after(0.2) as scope:
                    await run_asyncio(fetch_slow)
                    raise AssertionError("the slow request was not cancelled")
                assert scope.cancelled_caught
                assert saw_cancel == [True]
                # The client closed the connection, so aiohttp cancelled the handler.
                await wait_asyncio_event(server.state.slow_cancelled)
                status, _ = await run_asyncio(get_text, session, f"{server.url}/hello")
                assert status == 200
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_client_timeout() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            timeout = aiohttp.ClientTimeout(total=0.2)
            session = await run_asyncio(functools.partial(new_session, timeout=timeout))
            async with aio_as_trio(session):
                started = trio.current_time()
                try:
                    await run_asyncio(get_text, session, f"{server.url}/slow")
                except TimeoutError:
                    pass  # aiohttp's timeouts are asyncio.TimeoutError == TimeoutError
                else:
                    raise AssertionError("no timeout")
                assert 0.15 < trio.current_time() - started < 5
                await wait_asyncio_event(server.state.slow_cancelled)
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_websocket_messages_ping_and_close_codes() -> None:
    async def main() -> None:
        server = await run_asyncio(start_server)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session):
                # autoping=False so the client sees the server's PONG itself.
                async with aio_as_trio(
                    session.ws_connect(f"{server.url}/ws", autoping=False)
                ) as ws:
                    await aio_as_trio(ws.send_str("hi"))
                    msg = await aio_as_trio(ws.receive())
                    assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "echo hi")
                    await aio_as_trio(ws.send_bytes(b"abc"))
                    msg = await aio_as_trio(ws.receive())
                    assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"cba")
                    await aio_as_trio(ws.ping(b"are you there"))
                    msg = await aio_as_trio(ws.receive())
                    assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"are you there")

                    # A receive() cancelled from Trio leaves the socket usable.
                    with trio.move_on_after(0.1) as scope:
                        await aio_as_trio(ws.receive())
                    assert scope.cancelled_caught
                    await aio_as_trio(ws.send_str("still there?"))
                    msg = await aio_as_trio(ws.receive())
                    assert msg.data == "echo still there?"

                    # The server closes with its own code.
                    await aio_as_trio(ws.send_str("close-me"))
                    msg = await aio_as_trio(ws.receive())
                    assert msg.type is aiohttp.WSMsgType.CLOSE
                    assert (msg.data, msg.extra) == (4001, "bye")
                    await aio_as_trio(ws.close())
                    assert ws.close_code == 4001
                # aiohttp's server then reports the client's reply (1000), as on asyncio.
                await wait_asyncio_event(server.state.ws_closed)
                assert server.state.ws_close_code == 1000

                # The client closes with its code; the server sees it.
                server.state.ws_closed.clear()
                async with aio_as_trio(session.ws_connect(f"{server.url}/ws")) as ws:
                    await aio_as_trio(ws.send_str("x"))
                    assert (await aio_as_trio(ws.receive())).data == "echo x"
                    await aio_as_trio(ws.close(code=4002, message=b"done"))
                await wait_asyncio_event(server.state.ws_closed)
                assert server.state.ws_close_code == 4002
        finally:
            await run_asyncio(server.runner.cleanup)

    run(main)


def test_trio_task_serves_data_to_an_aiohttp_handler() -> None:
    """A handler awaits Trio code with run_trio while the client is driven from Trio."""

    async def main() -> None:
        send, receive = trio.open_memory_channel[int](0)

        async def next_number() -> int:
            return await receive.receive()

        async def numbers(request: web.Request) -> web.Response:
            value = await aiotrio.run_trio(next_number)
            return web.Response(text=str(value))

        async def start() -> tuple[web.AppRunner, str]:
            app = web.Application()
            app.router.add_get("/n", numbers)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/n"

        runner, url = await run_asyncio(start)
        try:
            session = await run_asyncio(new_session)
            async with aio_as_trio(session), trio.open_nursery() as nursery:

                async def produce() -> None:
                    for i in range(5):
                        await send.send(i * i)

                nursery.start_soon(produce)
                got = [(await run_asyncio(get_text, session, url))[1] for _ in range(5)]
            assert got == ["0", "1", "4", "9", "16"]
        finally:
            await run_asyncio(runner.cleanup)

    run(main)
