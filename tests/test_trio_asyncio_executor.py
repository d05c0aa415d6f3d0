"""aiotrio.trio_asyncio.TrioExecutor: run_in_executor jobs in Trio's worker threads.

Each test runs in a fresh interpreter: Trio keeps its idle worker threads
cached for 10 seconds, which the suite's thread-leak check would report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from .conftest import READINESS

PRELUDE = """
import threading
import trio
import trio.testing
import aiotrio.trio_asyncio as trio_asyncio

def in_trio_thread():
    trio.from_thread.check_cancelled()  # RuntimeError outside Trio's worker threads
    return threading.get_ident()
"""


def _run(code: str) -> None:
    env = dict(os.environ, AIOTRIO_READINESS=READINESS)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok", (result.stdout, result.stderr)


def test_jobs_run_in_trio_worker_threads_within_the_limiter() -> None:
    _run(
        """
        async def main():
            loop = trio_asyncio.current_loop.get()
            limiter = trio.CapacityLimiter(1)
            executor = trio_asyncio.TrioExecutor(limiter=limiter)
            release = threading.Event()

            def blocking():
                release.wait(30)
                return in_trio_thread()

            # Both jobs block: the two Trio tasks that run them start in one
            # scheduling batch, in either order, and a job that did not block
            # could take the token first and be done before we look.
            first = loop.run_in_executor(executor, blocking)
            second = loop.run_in_executor(executor, blocking)
            await trio.testing.wait_all_tasks_blocked()
            # One job holds the only token, the other waits for it.
            stats = limiter.statistics()
            assert (stats.borrowed_tokens, stats.tasks_waiting) == (1, 1), stats
            release.set()
            idents = [await loop.run_aio_future(first), await loop.run_aio_future(second)]
            assert threading.get_ident() not in idents
            print("ok")

        trio_asyncio.run(main)
        """
    )


def test_max_workers_makes_a_limiter_and_one_token_does_not_deadlock() -> None:
    _run(
        """
        async def main():
            loop = trio_asyncio.current_loop.get()
            executor = trio_asyncio.TrioExecutor(max_workers=1)
            with trio.fail_after(10):
                # trio-asyncio's regression: the job must not take the token twice.
                await trio_asyncio.aio_as_trio(loop.run_in_executor)(executor, in_trio_thread)
            print("ok")

        trio_asyncio.run(main)
        """
    )


def test_a_trio_executor_as_default_and_after_shutdown() -> None:
    _run(
        """
        async def main():
            loop = trio_asyncio.current_loop.get()
            executor = trio_asyncio.TrioExecutor()
            loop.set_default_executor(executor)
            ident = await loop.run_aio_future(loop.run_in_executor(None, in_trio_thread))
            assert ident != threading.get_ident()
            executor.shutdown()
            try:
                await loop.run_aio_future(loop.run_in_executor(executor, in_trio_thread))
            except RuntimeError as exc:
                assert "shut down" in str(exc), exc
            else:
                raise AssertionError("a shut down executor took a job")
            print("ok")

        trio_asyncio.run(main)
        """
    )
