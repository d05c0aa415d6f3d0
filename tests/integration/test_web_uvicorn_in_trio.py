"""``uvicorn.Server(config).serve()`` inside a Trio program's ``aiotrio.open_loop()``.

Uses examples/uvicorn_in_trio.py's `serve_until_cancelled` and app; the example
itself runs in tests/integration/test_examples.py.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

import httpx
import trio
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import aiotrio

from ._examples import load_example
from ._harness import run, trio_heartbeat

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from starlette.requests import Request

example = load_example("uvicorn_in_trio")


def make_server(app: Any) -> uvicorn.Server:
    # log_config=None: leave the process's logging alone; uvicorn.error still logs at INFO.
    return uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="info"))


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_serves_while_trio_tasks_run_and_stops_on_should_exit() -> None:
    metronome = example.Metronome()
    server = make_server(example.make_app(metronome))

    async def get_tick(client: httpx.AsyncClient, into: list[int]) -> None:
        response = await client.get("/tick")
        assert response.status_code == 200
        into.append(response.json()["tick"])

    async def main() -> None:
        with example.loopback_listener() as listener:
            port = listener.getsockname()[1]
            async with trio.open_nursery() as nursery, trio_heartbeat() as heartbeat:
                nursery.start_soon(metronome.run)
                async with trio.open_nursery() as web:
                    web.start_soon(
                        aiotrio.run_asyncio, example.serve_until_cancelled, server, [listener]
                    )
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                        concurrent: list[int] = []
                        async with trio.open_nursery() as requests:
                            for _ in range(20):
                                requests.start_soon(get_tick, client, concurrent)
                        beats_before = heartbeat.beats
                        sequential: list[int] = []
                        for _ in range(3):
                            await get_tick(client, sequential)
                    assert heartbeat.beats > beats_before  # Trio ran meanwhile
                    server.should_exit = True  # what uvicorn's signal handler does
                # serve() returned by itself: the nursery was not cancelled.
                assert not web.cancel_scope.cancel_called
                assert len(concurrent) == 20 and min(concurrent) >= 1
                # Each request waited for a tick after the previous one's.
                assert sequential[0] < sequential[1] < sequential[2]
                assert listener.fileno() == -1  # uvicorn closed it
                assert refuses_connections(port)
                nursery.cancel_scope.cancel()
        assert metronome.lifespan == ["startup", "shutdown"]

    run(main)


class _LogEvent(logging.Handler):
    """Sets a trio.Event when a record's message contains `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()  # uvicorn logs from asyncio code inside the Trio run


@contextlib.contextmanager
def watch_log(logger: str, text: str) -> Iterator[trio.Event]:
    handler = _LogEvent(text)
    logging.getLogger(logger).addHandler(handler)
    try:
        yield handler.event
    finally:
        logging.getLogger(logger).removeHandler(handler)


def test_cancelling_from_trio_shuts_down_gracefully_with_a_request_in_flight() -> None:
    entered = trio.Event()
    release = trio.Event()
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hold(request: Request) -> JSONResponse:
        async def wait() -> str:  # Trio code
            entered.set()
            await release.wait()
            return "released"

        result = await aiotrio.run_trio(wait)
        events.append("responded")
        return JSONResponse({"result": result})

    server = make_server(Starlette(routes=[Route("/hold", hold)], lifespan=lifespan))

    async def main() -> None:
        with (
            example.loopback_listener() as listener,
            watch_log("uvicorn.error", "Waiting for connections to close") as draining,
        ):
            port = listener.getsockname()[1]
            response: list[httpx.Response] = []

            async def request() -> None:
                async with httpx.AsyncClient() as client:
                    response.append(await client.get(f"http://127.0.0.1:{port}/hold"))

            async with trio.open_nursery() as clients:
                clients.start_soon(request)
                with trio.fail_after(30):
                    async with trio.open_nursery() as web:
                        web.start_soon(
                            aiotrio.run_asyncio, example.serve_until_cancelled, server, [listener]
                        )
                        await entered.wait()
                        web.cancel_scope.cancel()  # from Trio, with the request in flight
                        # Shielded, as the serving task's own shutdown is.
                        with trio.CancelScope(shield=True):
                            await draining.wait()
                            # uvicorn stopped listening but waits for the request.
                            assert refuses_connections(port)
                            assert events == ["startup"]
                            release.set()
                assert web.cancel_scope.cancelled_caught
            assert response[0].status_code == 200
            assert response[0].json() == {"result": "released"}
            # The request finished before the lifespan's shutdown.
            assert events == ["startup", "responded", "shutdown"]

    run(main)
