"""asyncpg against a real PostgreSQL server, driven from a Trio program."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import functools
import json
import warnings

import asyncpg  # type: ignore[import-untyped]  # no stubs or py.typed
import trio

import aiotrio
from aiotrio import aio_as_trio, run_asyncio

from ._harness import run, trio_heartbeat

ROWS = [(i, f"name {i}", decimal.Decimal(i) / 4) for i in range(1, 2001)]


async def connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    # asyncpg leaves json as text; decode it as most applications do.
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


def test_queries_prepared_statements_and_transactions(pg_dsn: str) -> None:
    async def main() -> None:
        conn = await run_asyncio(connect, pg_dsn)
        try:
            async with trio_heartbeat() as heartbeat:
                assert await aio_as_trio(conn.fetchval("SELECT 1 + $1::int", 41)) == 42
                row = await aio_as_trio(
                    conn.fetchrow(
                        "SELECT $1::json AS doc, $2::timestamptz AS at, $3::numeric AS n",
                        {"a": [1, 2]},
                        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
                        decimal.Decimal("1.25"),
                    )
                )
                assert row["doc"] == {"a": [1, 2]}
                assert row["at"] == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
                assert row["n"] == decimal.Decimal("1.25")

                await aio_as_trio(
                    conn.execute(
                        "CREATE TEMP TABLE items (id int PRIMARY KEY, name text, w numeric)"
                    )
                )
                await aio_as_trio(
                    conn.executemany("INSERT INTO items VALUES ($1, $2, $3)", ROWS[:100])
                )

                # A prepared statement, reused with different arguments.
                stmt = await aio_as_trio(conn.prepare("SELECT name, w FROM items WHERE id = $1"))
                assert [tuple(await aio_as_trio(stmt.fetchrow(i))) for i in (1, 50)] == [
                    ("name 1", decimal.Decimal("0.25")),
                    ("name 50", decimal.Decimal("12.5")),
                ]
                assert [a.name for a in stmt.get_attributes()] == ["name", "w"]

                # A transaction rolled back by an exception raised in Trio code.
                try:
                    async with aio_as_trio(conn.transaction()):
                        await aio_as_trio(conn.execute("DELETE FROM items"))
                        assert await aio_as_trio(conn.fetchval("SELECT count(*) FROM items")) == 0
                        raise LookupError("roll back")
                except LookupError:
                    pass
                assert await aio_as_trio(conn.fetchval("SELECT count(*) FROM items")) == 100
                assert not conn.is_in_transaction()

                # A committed transaction with a savepoint rolled back inside it.
                async with aio_as_trio(conn.transaction()):
                    await aio_as_trio(conn.execute("UPDATE items SET name = 'one' WHERE id = 1"))
                    try:
                        async with aio_as_trio(conn.transaction()):
                            await aio_as_trio(conn.execute("DELETE FROM items WHERE id = 2"))
                            raise KeyError("savepoint")
                    except KeyError:
                        pass
                names = await aio_as_trio(
                    conn.fetch("SELECT name FROM items WHERE id IN (1, 2) ORDER BY id")
                )
                assert [r["name"] for r in names] == ["one", "name 2"]

                # A server-side cursor iterated from Trio, inside a transaction.
                async with aio_as_trio(conn.transaction()):
                    ids = [
                        r["id"]
                        async for r in aio_as_trio(
                            conn.cursor("SELECT id FROM items ORDER BY id", prefetch=7)
                        )
                    ]
                assert ids == list(range(1, 101))

                # Errors cross the bridge as asyncpg's own exception types.
                try:
                    await aio_as_trio(conn.execute("INSERT INTO items VALUES (1, 'dup', 0)"))
                except asyncpg.UniqueViolationError as exc:
                    assert exc.constraint_name == "items_pkey"
                else:
                    raise AssertionError("no UniqueViolationError")
                assert heartbeat.beats > 0
        finally:
            await aio_as_trio(conn.close())
        assert conn.is_closed()

    run(main)


def test_copy_in_and_out(pg_dsn: str) -> None:
    async def main() -> None:
        conn = await run_asyncio(connect, pg_dsn)
        try:
            await aio_as_trio(
                conn.execute("CREATE TEMP TABLE items (id int, name text, w numeric)")
            )
            result = await aio_as_trio(
                conn.copy_records_to_table("items", records=ROWS, columns=["id", "name", "w"])
            )
            assert result == f"COPY {len(ROWS)}"
            total = await aio_as_trio(conn.fetchval("SELECT sum(w) FROM items"))
            assert total == sum(w for _, _, w in ROWS)

            # COPY out, streamed to an async callback that hands chunks to Trio.
            send, receive = trio.open_memory_channel[bytes](100)
            chunks: list[bytes] = []

            async def collect_into_trio(data: bytes) -> None:
                # asyncio code; send_nowait hands the chunk to a Trio task.
                send.send_nowait(data)

            async def drain() -> None:
                async for chunk in receive:
                    chunks.append(chunk)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                result = await aio_as_trio(
                    conn.copy_from_query(
                        "SELECT id, name FROM items WHERE id <= $1 ORDER BY id",
                        10,
                        output=collect_into_trio,
                        format="csv",
                    )
                )
                await send.aclose()
            assert result == "COPY 10"
            assert b"".join(chunks).decode().splitlines() == [f"{i},name {i}" for i in range(1, 11)]
        finally:
            await aio_as_trio(conn.close())

    run(main)


def test_listen_notify_delivers_to_trio(pg_dsn: str) -> None:
    async def main() -> None:
        listener = await run_asyncio(connect, pg_dsn)
        notifier = await run_asyncio(connect, pg_dsn)
        send, receive = trio.open_memory_channel[tuple[str, str]](100)

        def on_notify(conn: object, pid: int, channel: str, payload: str) -> None:
            # Called by asyncpg on the loop; the Trio channel wakes a Trio task.
            send.send_nowait((channel, payload))

        try:
            await aio_as_trio(listener.add_listener("jobs", on_notify))
            await aio_as_trio(notifier.execute("NOTIFY jobs, 'first'"))
            with trio.fail_after(5):
                assert await receive.receive() == ("jobs", "first")
            async with aio_as_trio(notifier.transaction()):
                await aio_as_trio(notifier.execute("SELECT pg_notify('jobs', 'in-tx')"))
                # Not delivered before commit.
                with trio.move_on_after(0.1):
                    raise AssertionError(f"early: {await receive.receive()}")
            with trio.fail_after(5):
                assert await receive.receive() == ("jobs", "in-tx")
            await aio_as_trio(listener.remove_listener("jobs", on_notify))
            await aio_as_trio(notifier.execute("NOTIFY jobs, 'ignored'"))
            with trio.move_on_after(0.1):
                raise AssertionError(f"after unlisten: {await receive.receive()}")
        finally:
            await aio_as_trio(listener.close())
            await aio_as_trio(notifier.close())

    run(main)


def test_pool_shared_by_trio_tasks(pg_dsn: str) -> None:
    async def main() -> None:
        pool = await run_asyncio(
            functools.partial(
                asyncpg.create_pool,
                pg_dsn,
                min_size=2,
                max_size=4,
                server_settings={"application_name": "aiotrio-pool-test"},
            )
        )
        try:
            results: dict[int, int] = {}

            async def work(i: int) -> None:
                results[i] = await aio_as_trio(
                    pool.fetchval("SELECT $1::int * 2 FROM pg_sleep(0.05)", i)
                )

            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                for i in range(16):
                    nursery.start_soon(work, i)
            elapsed = trio.current_time() - started
            assert results == {i: 2 * i for i in range(16)}
            # 16 sleeps of 50 ms on 4 connections: about 4 rounds, not 16.
            assert elapsed < 16 * 0.05
            async with aio_as_trio(pool.acquire()) as conn:
                backends = await aio_as_trio(
                    conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = 'aiotrio-pool-test'"
                    )
                )
            assert 2 <= backends <= 4
            assert pool.get_size() <= 4
        finally:
            await aio_as_trio(pool.close())

    run(main)


def test_long_query_cancelled_from_trio(pg_dsn: str) -> None:
    async def main() -> None:
        conn = await run_asyncio(connect, pg_dsn)
        watcher = await run_asyncio(connect, pg_dsn)
        try:
            pid = conn.get_server_pid()
            started = trio.current_time()
            with trio.move_on_after(0.3) as scope:
                await aio_as_trio(conn.fetchval("SELECT pg_sleep(30)"))
            assert scope.cancelled_caught
            assert trio.current_time() - started < 5
            # asyncpg sent a cancel request; the server stopped the query, and
            # the connection is usable again.
            assert await aio_as_trio(conn.fetchval("SELECT 'alive'")) == "alive"
            state = await aio_as_trio(
                watcher.fetchrow("SELECT state, query FROM pg_stat_activity WHERE pid = $1", pid)
            )
            assert state["state"] == "idle"
            assert state["query"] == "SELECT 'alive'"

            # The same from inside a Trio nursery whose sibling fails.
            async def doomed() -> None:
                await aio_as_trio(conn.execute("SELECT pg_sleep(30)"))

            async def fail_soon() -> None:
                await trio.sleep(0.2)
                raise OSError("sibling failed")

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(doomed)
                    nursery.start_soon(fail_soon)
            except* OSError:
                pass
            assert await aio_as_trio(conn.fetchval("SELECT 2")) == 2
        finally:
            await aio_as_trio(conn.close())
            await aio_as_trio(watcher.close())

    run(main)


def test_pool_made_in_trio_code(pg_dsn: str) -> None:
    """``aio_as_trio(asyncpg.create_pool(...))``: the pool object is made in Trio code."""

    async def main() -> None:
        loop = aiotrio.current_loop()
        with warnings.catch_warnings():
            # 3.12-3.13 warn before making a loop of their own: fail then, not after.
            warnings.simplefilter("error", DeprecationWarning)
            found = asyncio.get_event_loop()  # RuntimeError on 3.14+
        assert found is loop
        pool = await aio_as_trio(asyncpg.create_pool(pg_dsn, min_size=1, max_size=2))
        async with aio_as_trio(pool):
            assert await aio_as_trio(pool.fetchval("SELECT 3")) == 3

    run(main)
