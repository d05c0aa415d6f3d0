"""Hypercorn's Trio worker serving a Quart-Trio app that uses asyncpg and redis.

The app is examples/hypercorn_quart_trio.py: Trio handlers reach PostgreSQL and
Redis (the integration tests' real servers) through `aio_as_trio` inside
``aiotrio.open_loop()``; the example as a program runs in test_examples.py.
"""

from __future__ import annotations

import functools
import uuid

import asyncpg
import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

import aiotrio

from ._examples import drop_namespace, load_example
from ._harness import run, trio_heartbeat

example = load_example("hypercorn_quart_trio")


def test_quart_trio_app_on_hypercorn_trio_with_asyncpg_and_redis(
    pg_dsn: str, redis_url: str
) -> None:
    namespace = f"notes_{uuid.uuid4().hex[:12]}"
    app = example.make_app(pg_dsn, redis_url, namespace)
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None

    async def main() -> None:
        stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery, trio_heartbeat() as heartbeat:
                binds = await nursery.start(
                    functools.partial(serve, app, config, shutdown_trigger=stop.wait)
                )
                async with httpx.AsyncClient(base_url=binds[0]) as client:
                    ids: list[int] = []

                    async def add(i: int) -> None:
                        response = await client.post("/notes", json={"text": f"note {i}"})
                        assert response.status_code == 201
                        ids.append(response.json()["id"])

                    seen: dict[int, list[dict[str, object]]] = {}

                    async def get(note_id: int) -> None:
                        response = await client.get(f"/notes/{note_id}")
                        assert response.status_code == 200
                        seen.setdefault(note_id, []).append(response.json())

                    async with trio.open_nursery() as requests:
                        for i in range(10):
                            requests.start_soon(add, i)
                    beats = heartbeat.beats
                    for _ in range(2):  # first from PostgreSQL, then from Redis
                        async with trio.open_nursery() as requests:
                            for note_id in ids:
                                requests.start_soon(get, note_id)
                    assert heartbeat.beats > beats  # Trio tasks ran while it served
                    assert sorted(seen) == sorted(ids)
                    for note_id, (first, second) in seen.items():
                        assert first["text"] == second["text"]
                        assert (first["cached"], second["cached"]) == (False, True)
                        assert first["id"] == note_id
                    views = sorted(v["views"] for pair in seen.values() for v in pair)
                    assert views == list(range(1, 21))  # Redis INCR, one per request
                    assert (await client.get("/stats")).json() == {"notes": 10, "views": 20}
                    missing = await client.get(f"/notes/{max(ids) + 1000}")
                    assert missing.status_code == 404
                stop.set()  # Hypercorn's graceful shutdown; after_serving closes the store
        finally:
            with trio.CancelScope(shield=True):
                await aiotrio.run_asyncio(drop_namespace, pg_dsn, redis_url, namespace)

    run(main)


def test_shutdown_deadline_cancels_a_query_in_flight_on_the_server(pg_dsn: str) -> None:
    """Hypercorn cancels the handlers still running at its graceful timeout: the
    Trio cancellation reaches the asyncpg query, which PostgreSQL then stops."""
    app = QuartTrio(__name__)
    pool: list[asyncpg.Pool] = []
    seen: dict[str, object] = {}
    entered = trio.Event()

    @app.before_serving
    async def open_pool() -> None:
        pool.append(await aiotrio.aio_as_trio(asyncpg.create_pool(pg_dsn, min_size=1, max_size=2)))

    @app.after_serving
    async def close_pool() -> None:
        await aiotrio.aio_as_trio(pool[0].close)()  # waits for the connection to be back

    @app.get("/slow")
    async def slow() -> str:
        async with aiotrio.aio_as_trio(pool[0].acquire()) as connection:
            seen["pid"] = connection.get_server_pid()
            entered.set()
            try:
                await aiotrio.aio_as_trio(connection.fetchval)("SELECT pg_sleep(30)")
            except trio.Cancelled:
                seen["cancelled"] = True
                raise
        return "finished"

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.2

    async def main() -> None:
        watcher = await aiotrio.aio_as_trio(asyncpg.connect(pg_dsn))
        try:
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    functools.partial(serve, app, config, shutdown_trigger=stop.wait)
                )

                async def request() -> None:
                    async with httpx.AsyncClient() as client:
                        with pytest.raises(httpx.RemoteProtocolError):
                            await client.get(f"{binds[0]}/slow")

                nursery.start_soon(request)
                await entered.wait()
                stopped_at = trio.current_time()
                stop.set()
            # serve() returned after its graceful timeout, not after the 30 s query.
            assert trio.current_time() - stopped_at < 10
            assert seen["cancelled"] is True
            # The query was stopped on the server and the pool closed its connection.
            activity = await aiotrio.aio_as_trio(watcher.fetchrow)(
                "SELECT state FROM pg_stat_activity WHERE pid = $1", seen["pid"]
            )
            assert activity is None
        finally:
            await aiotrio.aio_as_trio(watcher.close)()

    run(main)
