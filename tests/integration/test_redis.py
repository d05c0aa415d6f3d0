"""redis-py's asyncio client against a real redis-server, driven from a Trio program."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
import trio
from redis.exceptions import WatchError

from aiotrio import aio_as_trio, run_asyncio

from ._harness import run, trio_heartbeat


async def new_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True)


def key(name: str) -> str:
    # Tests may share a server with another run: keep keys apart.
    return f"aiotrio-test:{uuid.uuid4().hex}:{name}"


def test_commands_and_pipelines(redis_url: str) -> None:
    async def main() -> None:
        r = await run_asyncio(new_client, redis_url)
        other = await run_asyncio(new_client, redis_url)
        try:
            async with trio_heartbeat() as heartbeat:
                k, h, counter = key("k"), key("h"), key("counter")
                assert await aio_as_trio(r.ping()) is True
                assert await aio_as_trio(r.set(k, "v", ex=60)) is True
                assert await aio_as_trio(r.get(k)) == "v"
                assert 0 < await aio_as_trio(r.ttl(k)) <= 60
                await aio_as_trio(r.hset(h, mapping={"a": "1", "b": "2"}))
                assert await aio_as_trio(r.hgetall(h)) == {"a": "1", "b": "2"}

                # Many Trio tasks increment through one client's connection pool.
                async def bump() -> None:
                    for _ in range(10):
                        await aio_as_trio(r.incr(counter))

                async with trio.open_nursery() as nursery:
                    for _ in range(10):
                        nursery.start_soon(bump)
                assert await aio_as_trio(r.get(counter)) == "100"

                # A MULTI/EXEC pipeline, used as an async context manager from Trio.
                async with aio_as_trio(r.pipeline(transaction=True)) as pipe:
                    pipe.incr(counter).incrby(counter, 10).get(counter).delete(k)
                    assert await aio_as_trio(pipe.execute()) == [101, 111, "111", 1]

                # WATCH: another client's write between WATCH and EXEC aborts it.
                async with aio_as_trio(r.pipeline()) as pipe:
                    await aio_as_trio(pipe.watch(counter))
                    value = int(await aio_as_trio(pipe.get(counter)))
                    await aio_as_trio(other.set(counter, "0"))  # the conflicting write
                    pipe.multi()
                    pipe.set(counter, str(value + 1))
                    try:
                        await aio_as_trio(pipe.execute())
                    except WatchError:
                        pass
                    else:
                        raise AssertionError("no WatchError")
                assert await aio_as_trio(r.get(counter)) == "0"
                await aio_as_trio(r.delete(h, counter))
                assert heartbeat.beats > 0
        finally:
            await aio_as_trio(r.aclose())
            await aio_as_trio(other.aclose())

    run(main)


def test_pubsub_messages_reach_trio(redis_url: str) -> None:
    async def main() -> None:
        r = await run_asyncio(new_client, redis_url)
        channel = key("news")
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        try:
            await aio_as_trio(pubsub.subscribe(channel))
            await aio_as_trio(pubsub.psubscribe(f"{channel}.*"))

            async def publish() -> None:
                for i in range(5):
                    await aio_as_trio(r.publish(channel, f"m{i}"))
                await aio_as_trio(r.publish(f"{channel}.sport", "goal"))

            got: list[tuple[str, str]] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish)
                with trio.fail_after(5):
                    while len(got) < 6:
                        message = await aio_as_trio(pubsub.get_message(timeout=1))
                        if message is not None:
                            got.append((message["type"], message["data"]))
            assert got == [("message", f"m{i}") for i in range(5)] + [("pmessage", "goal")]

            await aio_as_trio(pubsub.unsubscribe(channel))
            await aio_as_trio(pubsub.punsubscribe())
            assert await aio_as_trio(r.publish(channel, "nobody")) == 0
        finally:
            await aio_as_trio(pubsub.aclose())  # type: ignore[no-untyped-call]
            await aio_as_trio(r.aclose())

    run(main)


def test_blpop_cancelled_from_trio(redis_url: str) -> None:
    async def main() -> None:
        r = await run_asyncio(new_client, redis_url)
        observer = await run_asyncio(new_client, redis_url)
        queue = key("queue")
        try:
            # A BLPOP that a Trio task satisfies.
            async with trio.open_nursery() as nursery:

                async def push_later() -> None:
                    await trio.sleep(0.1)
                    await aio_as_trio(observer.rpush(queue, "job-1"))

                nursery.start_soon(push_later)
                assert tuple(await aio_as_trio(r.blpop([queue], timeout=5))) == (queue, "job-1")

            # A BLPOP with no timeout, cancelled from Trio.
            started = trio.current_time()
            with trio.move_on_after(0.2) as scope:
                await aio_as_trio(r.blpop([queue], timeout=0))
            assert scope.cancelled_caught
            assert trio.current_time() - started < 2
            # redis-py dropped the half-used connection, so the server no
            # longer has a client blocked on the list...
            with trio.fail_after(5):
                while int((await aio_as_trio(observer.info("clients")))["blocked_clients"]):
                    await trio.sleep(0.01)
            # ...and a later push is not swallowed by the abandoned BLPOP.
            await aio_as_trio(observer.rpush(queue, "job-2"))
            assert tuple(await aio_as_trio(r.blpop([queue], timeout=5))) == (queue, "job-2")
            assert await aio_as_trio(r.ping()) is True
        finally:
            await aio_as_trio(r.aclose())
            await aio_as_trio(observer.aclose())

    run(main)


def test_breaking_out_of_pubsub_listen(redis_url: str) -> None:
    async def main() -> None:
        r = await run_asyncio(new_client, redis_url)
        channel = key("news")
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        try:
            await aio_as_trio(pubsub.subscribe(channel))
            await aio_as_trio(r.publish(channel, "only"))
            with trio.fail_after(5):
                async for message in aio_as_trio(pubsub.listen()):
                    assert message["data"] == "only"
                    break
        finally:
            await aio_as_trio(pubsub.aclose())  # type: ignore[no-untyped-call]
            await aio_as_trio(r.aclose())

    run(main)
