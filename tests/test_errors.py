"""The exception-handler API, default logging, and reports made at garbage collection."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest


def test_custom_exception_handler_receives_callback_errors(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        assert loop.get_exception_handler() is not None

        def bad() -> None:
            raise ValueError("in a callback")

        loop.call_soon(bad)
        timer_ran = loop.create_future()
        loop.call_later(0.001, bad)
        loop.call_later(0.002, timer_ran.set_result, None)  # a later deadline: after bad
        await timer_ran
        loop.set_exception_handler(None)
        return contexts

    contexts = run_aio(main)
    assert [type(c["exception"]) for c in contexts] == [ValueError, ValueError]
    assert all("handle" in c and "Exception in callback" in c["message"] for c in contexts)


def test_default_handler_logs_like_asyncio(
    run_aio: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: 1 / 0)
        loop.call_exception_handler({"message": "custom report", "extra": 42})
        await asyncio.sleep(0)  # the callback has run

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run_aio(main)
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("Exception in callback") for m in messages)
    assert any("custom report" in m and "extra: 42" in m for m in messages)
    zero_division = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ZeroDivisionError]
    assert zero_division


def test_a_failing_exception_handler_is_logged_not_fatal(
    run_aio: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()

        def broken_handler(_loop: object, context: dict[str, Any]) -> None:
            raise RuntimeError("handler broke")

        loop.set_exception_handler(broken_handler)
        loop.call_soon(lambda: 1 / 0)
        await asyncio.sleep(0)  # the callback has run
        loop.set_exception_handler(None)
        return "still running"

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert run_aio(main) == "still running"
    assert any("Unhandled error in exception handler" in r.getMessage() for r in caplog.records)


def test_never_retrieved_task_exception_is_logged_at_gc(
    run_aio: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> str:
        async def fail() -> None:
            raise KeyError("nobody looks at me")

        task = asyncio.ensure_future(fail())
        await asyncio.sleep(0)
        assert task.done()
        del task
        gc.collect()
        await asyncio.sleep(0)
        return "survived"

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert run_aio(main) == "survived"
    assert any("Task exception was never retrieved" in r.getMessage() for r in caplog.records)


def test_gc_report_from_a_trio_task_does_not_crash_the_nursery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fail() -> None:
        raise KeyError("dropped")

    async def main() -> str:
        async with aiotrio.open_loop() as loop:
            task = loop.create_task(fail())
            await trio.testing.wait_all_tasks_blocked()
            assert task.done()
            del task
            gc.collect()  # reported while a Trio task runs, outside any batch
            await trio.testing.wait_all_tasks_blocked()
            return "nursery intact"

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert trio.run(main) == "nursery intact"
    assert any("Task exception was never retrieved" in r.getMessage() for r in caplog.records)


def test_gc_report_after_the_loop_closed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    kept: list[asyncio.Future[None]] = []

    async def fail() -> None:
        raise KeyError("after close")

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            kept.append(loop.create_task(fail()))
            await trio.testing.wait_all_tasks_blocked()

    trio.run(main)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        kept.clear()
        gc.collect()
    assert any("Task exception was never retrieved" in r.getMessage() for r in caplog.records)


def test_unhandled_errors_of_tasks_cancelled_at_shutdown_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuses_cancellation() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise OSError("failed while being cancelled") from None

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            loop.create_task(refuses_cancellation())
            await trio.testing.wait_all_tasks_blocked()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        trio.run(main)
    reports = [r for r in caplog.records if "during aiotrio.open_loop() shutdown" in r.getMessage()]
    assert len(reports) == 1
