"""A Trio program that uses two asyncio libraries together: asyncpg and aiohttp.

An aiohttp server answers ``GET /quotes/{id}`` from a PostgreSQL table read
through an asyncpg pool; Trio tasks fetch quotes from it with an aiohttp client
session, while PostgreSQL notifications arrive on a Trio channel, and a Trio
timeout cancels a slow query. All the control flow is Trio's; asyncio code is
called with `aio_as_trio`. The tutorial (docs/tutorial.md) explains it step by
step.

Extra dependencies: ``pip install aiohttp asyncpg``, and a PostgreSQL server
(``tools/servers.sh start`` runs one and prints a DSN):

    AIOTRIO_PG_DSN=postgresql://user@127.0.0.1:5432/postgres python examples/trio_asyncpg_aiohttp.py
"""

from __future__ import annotations

import os
import sys

import aiohttp
import asyncpg
import trio
from aiohttp import web

import aiotrio
from aiotrio import aio_as_trio

QUOTES = [
    (1, "Simple is better than complex."),
    (2, "Flat is better than nested."),
    (3, "Errors should never pass silently."),
]

POOL = web.AppKey("pool", asyncpg.Pool)


async def fill_table(pool: asyncpg.Pool) -> None:
    # Each call builds an asyncpg coroutine and awaits it from Trio.
    await aio_as_trio(
        pool.execute("CREATE TABLE IF NOT EXISTS quotes (id int PRIMARY KEY, text text)")
    )
    await aio_as_trio(pool.execute("TRUNCATE quotes"))
    await aio_as_trio(pool.executemany("INSERT INTO quotes VALUES ($1, $2)", QUOTES))


async def get_quote(request: web.Request) -> web.Response:
    # An ordinary aiohttp handler (asyncio code) using the asyncpg pool.
    pool = request.app[POOL]
    quote_id = int(request.match_info["id"])
    text = await pool.fetchval("SELECT text FROM quotes WHERE id = $1", quote_id)
    if text is None:
        raise web.HTTPNotFound()
    await pool.execute("SELECT pg_notify('served', $1)", str(quote_id))
    return web.json_response({"id": quote_id, "text": text})


async def start_web_server(pool: asyncpg.Pool) -> tuple[web.AppRunner, str]:
    # asyncio code too: aiotrio runs it as an asyncio task.
    app = web.Application()
    app[POOL] = pool
    app.router.add_get("/quotes/{id}", get_quote)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def listen(dsn: str) -> tuple[asyncpg.Connection, trio.MemoryReceiveChannel[str]]:
    # asyncpg calls the listener in asyncio; it feeds a Trio channel.
    send, receive = trio.open_memory_channel[str](len(QUOTES))
    connection = await aio_as_trio(asyncpg.connect(dsn))
    await aio_as_trio(connection.add_listener("served", lambda *args: send.send_nowait(args[3])))
    return connection, receive


async def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()  # needs a running asyncio loop: made on that side


async def fetch_all(base_url: str) -> None:
    session = await aio_as_trio(new_session)()
    async with aio_as_trio(session), trio.open_nursery() as nursery:

        async def fetch(quote_id: int) -> None:
            async with aio_as_trio(session.get(f"{base_url}/quotes/{quote_id}")) as resp:
                body = await aio_as_trio(resp.json())
            print(f"quote {body['id']}: {body['text']}")

        for quote_id, _ in QUOTES:
            nursery.start_soon(fetch, quote_id)


async def cancel_a_slow_query(pool: asyncpg.Pool) -> None:
    with trio.move_on_after(0.5) as scope:
        await aio_as_trio(pool.fetchval("SELECT pg_sleep(30)"))
    print("slow query cancelled:", scope.cancelled_caught)
    # asyncpg cancelled the query on the server; the pool works on.
    print("next query:", await aio_as_trio(pool.fetchval("SELECT 1 + 1")))


async def main(dsn: str) -> None:
    async with aiotrio.open_loop():
        # Called on the asyncio side: asyncpg.Pool() looks up its loop when made.
        pool = await aio_as_trio(asyncpg.create_pool)(dsn, min_size=1, max_size=3)
        async with aio_as_trio(pool):  # closes the pool at the end
            await fill_table(pool)
            listener, served = await listen(dsn)
            runner, base_url = await aio_as_trio(start_web_server)(pool)
            try:
                await fetch_all(base_url)
                ids = sorted([await served.receive() for _ in QUOTES])
                print("notifications:", ", ".join(ids))
                await cancel_a_slow_query(pool)
            finally:
                await aio_as_trio(listener.close())
                await aio_as_trio(runner.cleanup)()
                await aio_as_trio(pool.execute("DROP TABLE quotes"))
    print("done")


if __name__ == "__main__":
    dsn = os.environ.get("AIOTRIO_PG_DSN") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not dsn:
        sys.exit("set AIOTRIO_PG_DSN (or pass a DSN): this example needs a PostgreSQL server")
    trio.run(main, dsn)
