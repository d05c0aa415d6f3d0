"""A Starlette app whose handlers call Trio code, served by uvicorn on aiotrio.

Extra dependencies: uvicorn>=0.36, starlette, websockets (``pip install 'aiotrio[web]'``).

The app's Trio side is a "news desk": a Trio TCP service on loopback that
answers each line it receives upper-cased and publishes it as the latest
headline. The lifespan starts it as a Trio task (``run_trio``) and stops it at
shutdown; the handlers, asyncio code, call Trio code with `aiotrio.run_trio`:

    GET  /                the event loop's class: {"loop": "aiotrio.EventLoop"}
    GET  /upper?text=hi   a Trio TCP client asks the news desk: {"text": "hi", "upper": "HI"}
    GET  /next            waits (in Trio) for the next headline: {"headline": "..."}
    GET  /ticks?n=3       a streaming response, one line per trio.sleep
    WS   /ws              each text message comes back upper-cased by the news desk

Run it with uvicorn's loop factory option (uvicorn 0.36 or later):

    uvicorn uvicorn_starlette_trio:app --app-dir examples --loop aiotrio:new_event_loop

or ``python examples/uvicorn_starlette_trio.py [--port 8000]``, which does the same
through ``uvicorn.run``. Publish a headline with ``echo hello | nc 127.0.0.1 PORT`` (the
news desk's port is in the log). Ctrl-C or SIGTERM shuts down gracefully:
requests in flight complete, then the lifespan stops the news desk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.websockets import WebSocket

# uvicorn's own logger, so that the app's lines and the server's share one stream.
log = logging.getLogger("uvicorn.error")


@dataclass
class NewsDesk:
    """The Trio side: all of its methods are Trio code."""

    port: int = 0
    headlines: int = 0
    latest: str = ""
    started: trio.Event = field(default_factory=trio.Event)
    _published: trio.Event = field(default_factory=trio.Event)

    async def serve(self) -> None:
        """Listen on loopback until cancelled."""
        async with trio.open_nursery() as nursery:
            serve_tcp = functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
            listeners = await nursery.start(serve_tcp)
            self.port = listeners[0].socket.getsockname()[1]
            self.started.set()

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            buffer = b""
            async for data in stream:
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    headline = line.decode().strip().upper()
                    self._publish(headline)
                    await stream.send_all(headline.encode() + b"\n")

    def _publish(self, headline: str) -> None:
        self.headlines += 1
        self.latest = headline
        self._published.set()
        self._published = trio.Event()

    async def next_headline(self) -> str:
        log.info("waiting for the next headline")
        await self._published.wait()
        return self.latest

    async def ask(self, text: str) -> str:
        """A Trio TCP client: send `text` to the desk, return its answer."""
        async with await trio.open_tcp_stream("127.0.0.1", self.port) as stream:
            await stream.send_all(text.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = await stream.receive_some()
                if not chunk:
                    raise ConnectionError("the news desk closed the connection")
                answer += chunk
            return answer.decode().rstrip("\n")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Made here, not at import: Trio objects belong to the Trio run serving the app.
    app.state.desk = desk = NewsDesk()
    # A long-lived Trio task for the app's lifetime: an asyncio task awaiting run_trio.
    service = asyncio.create_task(aiotrio.run_trio(desk.serve))
    started = asyncio.create_task(aiotrio.run_trio(desk.started.wait))
    await asyncio.wait([service, started], return_when=asyncio.FIRST_COMPLETED)
    if service.done():  # it failed to start: raise its error
        started.cancel()
        service.result()
    log.info("news desk listening on 127.0.0.1:%d", desk.port)
    try:
        yield
    finally:
        service.cancel()  # cancels the Trio task, and waits for it to exit
        with contextlib.suppress(asyncio.CancelledError):
            await service
        log.info("news desk stopped after %d headlines", desk.headlines)


async def about(request: Request) -> JSONResponse:
    loop = type(asyncio.get_running_loop())
    return JSONResponse({"loop": f"{loop.__module__}.{loop.__qualname__}"})


async def upper(request: Request) -> JSONResponse:
    text = request.query_params.get("text", "")
    desk = request.app.state.desk
    return JSONResponse({"text": text, "upper": await aiotrio.run_trio(desk.ask, text)})


async def next_headline(request: Request) -> JSONResponse:
    desk = request.app.state.desk
    return JSONResponse({"headline": await aiotrio.run_trio(desk.next_headline)})


async def ticks(request: Request) -> StreamingResponse:
    count = int(request.query_params.get("n", "3"))

    async def lines() -> AsyncIterator[str]:
        for i in range(count):
            await aiotrio.run_trio(trio.sleep, 0.01)
            yield f"tick {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


async def shout(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(await aiotrio.run_trio(websocket.app.state.desk.ask, text))
    except WebSocketDisconnect:
        pass


app = Starlette(
    routes=[
        Route("/", about),
        Route("/upper", upper),
        Route("/next", next_headline),
        Route("/ticks", ticks),
        WebSocketRoute("/ws", shout),
    ],
    lifespan=lifespan,
)


def main() -> None:
    import uvicorn  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="aiotrio:new_event_loop")


if __name__ == "__main__":
    main()
