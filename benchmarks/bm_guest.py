"""13. Trio as a guest of stock asyncio / uvloop: Trio's own work, and the bridges.

Trio's own work (no asyncio involved) in a guest run against plain
``trio.run``: ``trio.sleep(0)`` in a loop (per sleep; in one task, and in 10
tasks, whose steps share each scheduling batch), and a Trio TCP echo of
64 B over loopback, client and server in the same run (per round trip). In a
guest run every scheduling batch is a host callback, and every wait for I/O
goes through Trio's I/O thread and back with ``call_soon_threadsafe``.

The bridges per call, an empty async function on the other side: ``run_trio``
from asyncio and ``run_asyncio`` from Trio, in the guest run and, for
comparison, inside ``aiotrio.open_loop()``.
"""

from __future__ import annotations

from typing import Any

from impls import run_trio_main
from timing import per_op

SIZE = 64


async def _empty() -> None:
    pass


async def _trio_work() -> dict[str, float]:
    import trio

    async def sleep0(n: int) -> None:
        for _ in range(n):
            await trio.sleep(0)

    async def echo_server(stream: trio.SocketStream) -> None:
        async with stream:
            async for data in stream:
                await stream.send_all(data)

    async def sleep0_in_10_tasks(n: int) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(sleep0, n // 10)

    figures = {
        "guest_trio_sleep0": await per_op(sleep0),
        "guest_trio_sleep0_10_tasks": await per_op(sleep0_in_10_tasks, unit=10),
    }
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, echo_server, listeners)
        client = await trio.open_tcp_stream("127.0.0.1", port)
        message = b"x" * SIZE

        async def echo(n: int) -> None:
            for _ in range(n):
                await client.send_all(message)
                received = 0
                while received < SIZE:
                    received += len(await client.receive_some(SIZE))

        figures["guest_trio_tcp_echo"] = await per_op(echo)
        await client.aclose()
        nursery.cancel_scope.cancel()
    return figures


async def main(to_aio: Any, to_trio: Any) -> dict[str, float]:
    figures = await _trio_work()
    if to_aio is None:  # plain trio.run: no asyncio
        return figures

    async def trio_calls_asyncio(n: int) -> None:
        for _ in range(n):
            await to_aio(_empty)

    async def asyncio_calls_trio(n: int) -> None:
        for _ in range(n):
            await to_trio(_empty)

    async def asyncio_side() -> float:
        return await per_op(asyncio_calls_trio)

    figures["guest_bridge_run_asyncio"] = await per_op(trio_calls_asyncio)
    figures["guest_bridge_run_trio"] = await to_aio(asyncio_side)
    return figures


def measure(impl: str) -> dict[str, float]:
    return run_trio_main(impl, main)
