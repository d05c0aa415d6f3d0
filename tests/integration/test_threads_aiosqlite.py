"""Libraries that do their blocking work in threads: aiosqlite and asyncio.to_thread.

The thread hands its result back with ``call_soon_threadsafe``, which must wake
a driver parked in Trio; cancelling the waiting side from Trio must not wait
for the thread, and leaving open_loop() must join the executor's threads (the
autouse `no_leaks` fixture checks that none is left).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import socket
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import aiosqlite
import trio

from aiotrio import aio_as_trio, run_asyncio

from ._harness import run, trio_heartbeat

if TYPE_CHECKING:
    from pathlib import Path

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def slow_identity(value: int) -> int:
    time.sleep(0.05)  # runs in aiosqlite's thread, inside the query
    return value


_gate = threading.Event()


def gated_identity(value: int) -> int:
    """Holds the query in aiosqlite's thread until the test opens `_gate` (30 s at most)."""
    _gate.wait(30)
    return value


def test_aiosqlite_queries_cursor_and_concurrency(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "db.sqlite"
        async with aio_as_trio(aiosqlite.connect(path)) as db, trio_heartbeat() as heartbeat:
            await aio_as_trio(db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
            await aio_as_trio(
                db.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(500)])
            )
            await aio_as_trio(db.commit())

            async with aio_as_trio(db.execute("SELECT id, name FROM t WHERE id % 100 = 0")) as cur:
                rows = [tuple(row) async for row in aio_as_trio(cur)]
            assert rows == [(i, f"n{i}") for i in range(0, 500, 100)]

            # A query that blocks its thread for 0.25 s: Trio keeps running.
            await aio_as_trio(db.create_function("slow_identity", 1, slow_identity))
            beats_before = heartbeat.beats
            cur = await aio_as_trio(db.execute("SELECT sum(slow_identity(id)) FROM t WHERE id < 5"))
            assert await aio_as_trio(cur.fetchone()) == (10,)
            await aio_as_trio(cur.close())
            assert heartbeat.beats - beats_before > 5

            # A rolled-back write is not seen; the file holds the committed rows.
            await aio_as_trio(db.execute("DELETE FROM t"))
            await aio_as_trio(db.rollback())
        async with aio_as_trio(aiosqlite.connect(path)) as db:
            cur = await aio_as_trio(db.execute("SELECT count(*) FROM t"))
            assert await aio_as_trio(cur.fetchone()) == (500,)
            await aio_as_trio(cur.close())

    run(main)


def test_aiosqlite_cancel_from_trio_and_interrupt(tmp_path: Path) -> None:
    async def main() -> None:
        async with aio_as_trio(aiosqlite.connect(tmp_path / "db.sqlite")) as db:
            await aio_as_trio(db.create_function("gated_identity", 1, gated_identity))

            # Cancelled from Trio: the caller is released while the query still runs
            # (held by the gate), the query finishes in the thread once the gate opens,
            # and the connection stays usable.
            _gate.clear()
            try:
                with trio.move_on_after(0.05) as scope:
                    await aio_as_trio(
                        db.execute_fetchall(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                            "WHERE x < 10) SELECT gated_identity(x) FROM c"
                        )
                    )
                assert scope.cancelled_caught  # released: the gate still holds the query
            finally:
                _gate.set()
            assert list(await aio_as_trio(db.execute_fetchall("SELECT 7"))) == [(7,)]

            # sqlite's own interrupt, sent from Trio, stops a runaway query.
            async def runaway() -> None:
                try:
                    await aio_as_trio(
                        db.execute_fetchall(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                            "SELECT max(x) FROM c"
                        )
                    )
                except sqlite3.OperationalError as exc:
                    assert "interrupted" in str(exc)
                else:
                    raise AssertionError("the runaway query finished")

            async with trio.open_nursery() as nursery:
                ended = trio.Event()

                async def runaway_then_say() -> None:
                    await runaway()
                    ended.set()

                nursery.start_soon(runaway_then_say)
                # Until it is interrupted: an interrupt before the query starts in the
                # thread does nothing.
                with trio.fail_after(30):
                    while not ended.is_set():
                        await aio_as_trio(db.interrupt())
                        with trio.move_on_after(0.05):
                            await ended.wait()
            assert list(await aio_as_trio(db.execute_fetchall("SELECT 8"))) == [(8,)]

    run(main)


def blocking_work(seconds: float, tag: str) -> tuple[str, str, bool]:
    time.sleep(seconds)
    return tag, request_id.get(), threading.current_thread() is threading.main_thread()


def test_to_thread_executors_and_threadsafe_calls() -> None:
    async def asyncio_side() -> list[object]:
        loop = asyncio.get_running_loop()
        request_id.set("req-7")
        results: list[object] = []
        # to_thread copies the context; five calls run in parallel threads.
        started = loop.time()
        results.append(
            await asyncio.gather(
                *(asyncio.to_thread(blocking_work, 0.1, f"t{i}") for i in range(5))
            )
        )
        results.append(loop.time() - started < 0.4)
        # The default executor and a private one.
        results.append(await loop.run_in_executor(None, sum, [1, 2, 3]))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results.append(await loop.run_in_executor(pool, functools.partial(pow, 2, 10)))
        # getaddrinfo goes through the executor too.
        infos = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        results.append(any(info[4][0] in ("127.0.0.1", "::1") for info in infos))

        # A thread calling back into the (parked) loop.
        async def double(x: int) -> int:
            await asyncio.sleep(0.01)
            return 2 * x

        def from_thread() -> int:
            return asyncio.run_coroutine_threadsafe(double(21), loop).result(timeout=5)

        results.append(await asyncio.to_thread(from_thread))
        return results

    async def main() -> None:
        # (Not trio.to_thread here: Trio caches idle worker threads for 10 s,
        # which the no_leaks fixture would report.)
        async with trio_heartbeat() as heartbeat:
            results = await run_asyncio(asyncio_side)
        assert results == [
            [(f"t{i}", "req-7", False) for i in range(5)],
            True,
            6,
            1024,
            True,
            42,
        ]
        assert heartbeat.beats > 5

    run(main)


def test_to_thread_cancelled_from_trio() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(1)
        finished.set()

    async def main() -> None:
        started = trio.current_time()
        with trio.move_on_after(0.05) as scope:
            await run_asyncio(asyncio.to_thread, slow)
        assert scope.cancelled_caught
        # Released without waiting for the thread...
        assert trio.current_time() - started < 0.5
        assert not finished.is_set()

    # ...which open_loop() joins on exit (shutdown_default_executor).
    run(main)
    assert finished.is_set()
