"""A Quart-Trio app served by Hypercorn's Trio worker, using asyncpg and redis through aiotrio.

Extra dependencies: hypercorn[trio], quart-trio, asyncpg, redis (``pip install
'aiotrio[web]'``), and a PostgreSQL and a Redis server: set AIOTRIO_PG_DSN and
AIOTRIO_REDIS_URL (``tools/servers.sh start`` runs both on loopback).

The server and the app are Trio code; the database drivers are asyncio libraries,
reached with `aiotrio.aio_as_trio` inside the program's ``aiotrio.open_loop()``.
Notes live in PostgreSQL; Redis caches them and counts views.

    POST /notes {"text": "..."}  -> {"id": 1}                           (201)
    GET  /notes/1                -> {"id": 1, "text": "...", "cached": false, "views": 1}
    GET  /stats                  -> {"notes": 1, "views": 1}

    python examples/hypercorn_quart_trio.py [--port 8000] [--namespace notes]

SIGINT or SIGTERM stops it gracefully (Hypercorn's shutdown, then the app's
after_serving closes the pool and the Redis client).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as redis
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

import aiotrio


@dataclass
class Store:
    """Notes in PostgreSQL (table `namespace`), cached in Redis (keys `namespace:...`).

    Its methods are Trio code: each asyncio call goes through ``aio_as_trio``.
    """

    pool: asyncpg.Pool
    cache: redis.Redis
    namespace: str

    @classmethod
    async def open(cls, dsn: str, redis_url: str, namespace: str) -> Store:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", namespace):
            raise ValueError(f"namespace must be a lower-case SQL identifier, not {namespace!r}")
        pool = await aiotrio.aio_as_trio(asyncpg.create_pool(dsn, min_size=1, max_size=4))
        await aiotrio.aio_as_trio(pool.execute)(
            f"CREATE TABLE IF NOT EXISTS {namespace} (id serial PRIMARY KEY, text text NOT NULL)"
        )
        return cls(pool, redis.Redis.from_url(redis_url), namespace)

    async def close(self) -> None:
        await aiotrio.aio_as_trio(self.cache.aclose)()
        await aiotrio.aio_as_trio(self.pool.close)()

    async def add(self, text: str) -> int:
        note_id: int = await aiotrio.aio_as_trio(self.pool.fetchval)(
            f"INSERT INTO {self.namespace} (text) VALUES ($1) RETURNING id", text
        )
        return note_id

    async def get(self, note_id: int) -> dict[str, Any] | None:
        key = f"{self.namespace}:note:{note_id}"
        views = await aiotrio.aio_as_trio(self.cache.incr)(f"{self.namespace}:views")
        cached = await aiotrio.aio_as_trio(self.cache.get)(key)
        if cached is not None:
            return {"id": note_id, "text": cached.decode(), "cached": True, "views": views}
        text = await aiotrio.aio_as_trio(self.pool.fetchval)(
            f"SELECT text FROM {self.namespace} WHERE id = $1", note_id
        )
        if text is None:
            return None
        await aiotrio.aio_as_trio(self.cache.set)(key, text, ex=60)
        return {"id": note_id, "text": text, "cached": False, "views": views}

    async def stats(self) -> dict[str, int]:
        notes = await aiotrio.aio_as_trio(self.pool.fetchval)(
            f"SELECT count(*) FROM {self.namespace}"
        )
        views = await aiotrio.aio_as_trio(self.cache.get)(f"{self.namespace}:views")
        return {"notes": notes, "views": int(views or 0)}


def make_app(dsn: str, redis_url: str, namespace: str = "notes") -> QuartTrio:
    app = QuartTrio(__name__)
    store: Store | None = None

    def the_store() -> Store:
        assert store is not None, "before_serving has run"
        return store

    @app.before_serving
    async def open_store() -> None:
        nonlocal store
        store = await Store.open(dsn, redis_url, namespace)

    @app.after_serving
    async def close_store() -> None:
        await the_store().close()

    @app.post("/notes")
    async def add_note() -> tuple[dict[str, int], int]:
        body = await request.get_json()
        return {"id": await the_store().add(body["text"])}, 201

    @app.get("/notes/<int:note_id>")
    async def get_note(note_id: int) -> dict[str, Any] | tuple[dict[str, str], int]:
        note = await the_store().get(note_id)
        return note if note is not None else ({"error": "no such note"}, 404)

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return await the_store().stats()

    return app


async def wait_for_signal() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"got {signal.Signals(signum).name}, stopping", flush=True)
            return


async def main(port: int, namespace: str) -> None:
    app = make_app(os.environ["AIOTRIO_PG_DSN"], os.environ["AIOTRIO_REDIS_URL"], namespace)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    async with aiotrio.open_loop(), trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(serve, app, config, shutdown_trigger=wait_for_signal)
        )
        print(json.dumps({"listening": binds[0]}), flush=True)
    print("stopped cleanly", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--namespace", default="notes")
    args = parser.parse_args()
    trio.run(main, args.port, args.namespace)
