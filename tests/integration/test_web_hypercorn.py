"""Hypercorn's Trio worker serving a Quart-Trio app that uses asyncpg and redis.

The app is examples/hypercorn_quart_trio.py: Trio handlers reach PostgreSQL and
Redis (the integration tests' real servers) through `aio_as_trio` inside
``aiotrio.open_loop()``; the example as a program runs in test_examples.py.
"""

from __future__ import annotations

import functools
import uuid

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

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
