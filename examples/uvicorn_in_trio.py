"""uvicorn serving an ASGI app from inside a Trio program.

Extra dependencies: uvicorn>=0.36, starlette, httpx (``pip install 'aiotrio[web]'``).

The Trio program opens an aiotrio loop, runs ``uvicorn.Server(config).serve()`` on it
as an asyncio task (`aiotrio.run_asyncio`), and meanwhile runs Trio tasks: a
metronome that ticks every 10 ms, and an httpx client (on Trio) that calls the app.
The app's handlers wait for the metronome's next tick in Trio code (`aiotrio.run_trio`).

Cancelling the Trio scope that runs the server shuts uvicorn down gracefully
(`serve_until_cancelled`): uvicorn stops listening, lets requests in flight
finish and runs the lifespan's shutdown, then the cancellation goes on.

    python examples/uvicorn_in_trio.py
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import trio
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request


async def serve_until_cancelled(
    server: uvicorn.Server, sockets: list[socket.socket] | None = None
) -> None:
    """``await server.serve(sockets)``, where a cancellation means a graceful shutdown.

    asyncio code; from Trio, ``await aiotrio.run_asyncio(serve_until_cancelled, server)``.
    Cancelled, uvicorn's own ``serve()`` would stop at once and leave its listening
    sockets open; this asks it to exit (``should_exit``), as a signal would, and waits.
    """
    serving = asyncio.ensure_future(server.serve(sockets))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


@dataclass
class Metronome:
    """Trio state: ticks counted by a Trio task, awaited by the handlers."""

    ticks: int = 0
    lifespan: list[str] = field(default_factory=list)
    _ticked: trio.Event = field(default_factory=trio.Event)

    async def run(self, period: float = 0.01) -> None:
        while True:
            await trio.sleep(period)
            self.ticks += 1
            self._ticked.set()
            self._ticked = trio.Event()

    async def next_tick(self) -> int:
        await self._ticked.wait()
        return self.ticks


def make_app(metronome: Metronome) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metronome.lifespan.append("startup")
        yield
        metronome.lifespan.append("shutdown")

    async def tick(request: Request) -> JSONResponse:
        return JSONResponse({"tick": await aiotrio.run_trio(metronome.next_tick)})

    return Starlette(routes=[Route("/tick", tick)], lifespan=lifespan)


def loopback_listener() -> socket.socket:
    """A listening socket for uvicorn: its port is known, and connections queue
    in its backlog until uvicorn accepts them, so clients need not wait for it."""
    return socket.create_server(("127.0.0.1", 0))


async def main() -> None:
    metronome = Metronome()
    config = uvicorn.Config(make_app(metronome), log_level="warning")
    server = uvicorn.Server(config)
    with loopback_listener() as listener:
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with aiotrio.open_loop(), trio.open_nursery() as nursery:
            nursery.start_soon(metronome.run)
            async with trio.open_nursery() as web:
                web.start_soon(aiotrio.run_asyncio, serve_until_cancelled, server, [listener])

                # A Trio task using httpx (on Trio) while uvicorn serves on asyncio.
                async with httpx.AsyncClient(base_url=base) as client:
                    ticks = [(await client.get("/tick")).json()["tick"] for _ in range(3)]
                in_order = ticks == sorted(set(ticks))
                print(f"three requests, each answered on a later tick: {in_order}")
                web.cancel_scope.cancel()  # graceful: uvicorn shuts down, then serve returns
            print(f"uvicorn stopped; lifespan: {', '.join(metronome.lifespan)}")
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
