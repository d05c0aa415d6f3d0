"""An unmodified asyncio program, run on aiotrio by its last lines only.

Everything above ``if __name__ == "__main__"`` is plain asyncio: an aiohttp
server and client, a websockets echo server, an aiosqlite database, a
subprocess, ``asyncio.TaskGroup`` and ``asyncio.timeout``. Swapping the loop is
one argument: ``asyncio.run(main(), loop_factory=aiotrio.new_event_loop)``
(``asyncio.Runner(loop_factory=...)`` on Python 3.11, whose ``asyncio.run``
has no ``loop_factory``).

    python examples/asyncio_script.py

Extra dependencies: ``pip install aiohttp websockets aiosqlite``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
import aiosqlite
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve


async def http_round_trip() -> str:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.query['name']}")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch(session, url, name)) for name in ("a", "b", "c")]
        return ", ".join(task.result() for task in tasks)
    finally:
        await runner.cleanup()


async def fetch(session: aiohttp.ClientSession, url: str, name: str) -> str:
    async with session.get(url, params={"name": name}) as response:
        return await response.text()


async def websocket_round_trip() -> str:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message.upper() if isinstance(message, str) else message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send("ping over websockets")
            return str(await ws.recv())


async def sqlite_round_trip(path: Path) -> int:
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE numbers (n INTEGER)")
        await db.executemany("INSERT INTO numbers VALUES (?)", [(i,) for i in range(1, 11)])
        await db.commit()
        async with db.execute("SELECT sum(n) FROM numbers") as cursor:
            row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def subprocess_round_trip() -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print(6 * 7)", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    return stdout.decode().strip()


async def main() -> None:
    # Which package's loop runs this program: "aiotrio" here, "asyncio" normally.
    print("loop:", type(asyncio.get_running_loop()).__module__.partition(".")[0])
    print("http:", await http_round_trip())
    print("websockets:", await websocket_round_trip())
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite:", await sqlite_round_trip(Path(tmp) / "demo.db"))
    print("subprocess:", await subprocess_round_trip())
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(10)
    except TimeoutError:
        print("timeout: fired")


if __name__ == "__main__":
    import aiotrio

    if sys.version_info >= (3, 12):
        asyncio.run(main(), loop_factory=aiotrio.new_event_loop)
    else:
        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            runner.run(main())
