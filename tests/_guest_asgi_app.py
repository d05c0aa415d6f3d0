"""A Starlette app whose handlers call Trio code with run_trio (tests/test_guest_uvicorn.py).

uvicorn serves it on uvloop or stock asyncio: the first handler that calls
``run_trio`` starts Trio as a guest of uvicorn's loop.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import httpx
import sniffio
import trio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request


async def trio_exchange_line(port: int, line: bytes) -> str:
    """Trio TCP client: send `line`, return the line the loopback server answers."""
    try:
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(line + b"\n")
            received = b""
            while not received.endswith(b"\n"):
                chunk = await stream.receive_some(1024)
                if not chunk:
                    break
                received += chunk
            return received.decode().strip()
    finally:
        print(f"TRIO CLIENT FINALLY {line.decode()}", flush=True)


async def trio_http_get(url: str) -> str:
    """httpx in Trio mode (anyio's Trio backend, through sniffio)."""
    library = sniffio.current_async_library()
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    return f"{response.status_code} {response.text} (client in {library})"


async def trio_background() -> None:
    try:
        await trio.sleep_forever()
    finally:
        print("TRIO BACKGROUND FINALLY", flush=True)


async def tcp(request: Request) -> PlainTextResponse:
    port = int(request.query_params["port"])
    line = request.query_params["line"].encode()
    return PlainTextResponse(await aiotrio.run_trio(trio_exchange_line, port, line))


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello from {sniffio.current_async_library()}")


async def http(request: Request) -> PlainTextResponse:
    url = str(request.url.replace(path="/hello", query=""))
    return PlainTextResponse(await aiotrio.run_trio(trio_http_get, url))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # A Trio task nobody awaits: the guest run's end cancels it when uvicorn exits.
    aiotrio.trio_as_aio(trio_background)()
    yield


app = Starlette(
    routes=[Route("/tcp", tcp), Route("/hello", hello), Route("/http", http)],
    lifespan=lifespan,
)
