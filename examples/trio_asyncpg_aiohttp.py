"""A Trio program that uses two asyncio libraries together: asyncpg and aiohttp.

An aiohttp server answers ``GET /quotes/{id}`` from a PostgreSQL table read
through an asyncpg pool; Trio tasks fetch quotes from it with an aiohttp client
session, while another Trio task waits for PostgreSQL notifications. All the
control flow is Trio's; asyncio code is called with `aio_as_trio`.

Run it with a PostgreSQL server (``tools/servers.sh start`` prints a DSN):

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


async def get_quote(request: web.Request) -> web.Response:
    # An ordinary aiohttp handler (asyncio code) using the asyncpg pool.
    pool = request.app[POOL]
    text = await pool.fetchval(
        "SELECT text FROM quotes WHERE id = $1", int(request.match_info["id"])
    )
    if text is None:
        raise web.HTTPNotFound()
    await pool.execute("SELECT pg_notify('served', $1)", request.match_info["id"])
    return web.json_response({"id": int(request.match_info["id"]), "text": text})


async def start_web_server(pool: asyncpg.Pool) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app[POOL] = pool
    app.router.add_get("/quotes/{id}", get_quote)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()  # needs a running asyncio loop: made on that side


async def main(dsn: str) -> None:
    async with aiotrio.open_loop():
        # Called on the asyncio side: asyncpg.Pool() looks up its loop when made.
        pool = await aio_as_trio(asyncpg.create_pool)(dsn, min_size=1, max_size=3)
        async with aio_as_trio(pool):
            await aio_as_trio(
                pool.execute("CREATE TABLE IF NOT EXISTS quotes (id int PRIMARY KEY, text text)")
            )
            await aio_as_trio(pool.execute("TRUNCATE quotes"))
            await aio_as_trio(pool.executemany("INSERT INTO quotes VALUES ($1, $2)", QUOTES))

            # A dedicated connection listens; asyncpg's callback feeds a Trio channel.
            send, receive = trio.open_memory_channel[str](10)
            listener = await aio_as_trio(asyncpg.connect(dsn))
            await aio_as_trio(
                listener.add_listener("served", lambda *args: send.send_nowait(args[3]))
            )

            runner, base_url = await aio_as_trio(start_web_server)(pool)
            session = await aio_as_trio(new_session)()
            try:
                async with aio_as_trio(session), trio.open_nursery() as nursery:

                    async def fetch(quote_id: int) -> None:
                        async with aio_as_trio(
                            session.get(f"{base_url}/quotes/{quote_id}")
                        ) as resp:
                            body = await aio_as_trio(resp.json())
                        print(f"quote {body['id']}: {body['text']}")

                    for quote_id, _ in QUOTES:
                        nursery.start_soon(fetch, quote_id)

                served = sorted([await receive.receive() for _ in QUOTES])
                print("notifications:", ", ".join(served))
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
