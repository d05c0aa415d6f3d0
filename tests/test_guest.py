"""Trio as a guest of a stock asyncio or uvloop loop: bridges, cancellation, lifetime, errors."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any

import pytest
import sniffio
import trio
import trio.testing

import aiotrio
from tests._guest_support import HOSTS, loop_factory, no_leaks, run_on

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["no_leaks"]  # the autouse fixture, imported to apply here

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    loop_factory(name)  # skip early where uvloop is missing
    return name


async def _trio_mul(a: int, b: int) -> int:
    await trio.sleep(0)
    return a * b


async def _token() -> trio.lowlevel.TrioToken:
    await trio.sleep(0)
    return trio.lowlevel.current_trio_token()


async def _aio_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def test_run_trio_starts_one_guest_run_and_reuses_it(host: str) -> None:
    async def main() -> tuple[int, int, bool]:
        first = await aiotrio.run_trio(_trio_mul, 6, 7)
        token = await aiotrio.run_trio(_token)
        second = await aiotrio.run_trio(_trio_mul, 2, 3)
        return first, second, token is await aiotrio.run_trio(_token)

    assert run_on(host, main) == (42, 6, True)


async def _whoami() -> tuple[trio.lowlevel.Task, str]:
    await trio.sleep(0)
    task = trio.lowlevel.current_task()
    return task, task.name


def test_run_trio_calls_reuse_a_bridge_worker(host: str) -> None:
    async def main() -> tuple[bool, str]:
        first, _ = await aiotrio.run_trio(_whoami)
        second, name = await aiotrio.run_trio(_whoami)
        return first is second, name

    assert run_on(host, main) == (True, f"{__name__}._whoami")


def test_each_side_sees_its_own_world(host: str) -> None:
    seen: dict[str, Any] = {}

    async def aio_part() -> None:
        seen["aio library"] = sniffio.current_async_library()
        seen["aio loop"] = asyncio.get_running_loop()
        seen["aio task"] = asyncio.current_task() is not None

    async def trio_part() -> None:
        seen["trio library"] = sniffio.current_async_library()
        seen["trio running loop"] = asyncio.events._get_running_loop()
        await aiotrio.run_asyncio(aio_part)
        await aiotrio.aio_as_trio(aio_part)()

    async def main() -> asyncio.AbstractEventLoop:
        await aiotrio.run_trio(trio_part)
        seen["host library"] = sniffio.current_async_library()
        return asyncio.get_running_loop()

    loop = run_on(host, main)
    assert seen == {
        "trio library": "trio",
        "trio running loop": None,
        "aio library": "asyncio",
        "aio loop": loop,
        "aio task": True,
        "host library": "asyncio",
    }


def test_bridges_nest_both_ways(host: str) -> None:
    async def trio_middle(depth: int) -> int:
        return await aiotrio.run_asyncio(aio_outer, depth - 1)

    async def aio_outer(depth: int) -> int:
        if depth == 0:
            return await aiotrio.run_trio(_trio_mul, 3, 14)
        return await aiotrio.run_trio(trio_middle, depth)

    assert run_on(host, lambda: aio_outer(3)) == 42


def test_cancelling_the_asyncio_task_cancels_trio_and_waits_for_it(host: str) -> None:
    events: list[str] = []

    async def trio_part(started: asyncio.Event) -> None:
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.01)  # unwinding takes Trio time
            events.append("trio exited")

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.ensure_future(aiotrio.run_trio(trio_part, started))
        await started.wait()
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        events.append("asyncio resumed")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):  # asyncio.timeout around run_trio
                await aiotrio.run_trio(trio.sleep_forever)
        events.append("timeout unwound")

    run_on(host, main)
    assert events == ["trio exited", "asyncio resumed", "timeout unwound"]


def test_a_trio_cancel_scope_cancels_run_asyncio_and_waits(host: str) -> None:
    events: list[str] = []

    async def aio_part(started: trio.Event) -> None:
        started.set()  # asyncio code wakes a Trio task directly
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.01)
            events.append("asyncio exited")

    async def aio_refuses() -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return 7  # finished anyway: its result wins
        return 0

    async def trio_part() -> int | None:
        started = trio.Event()
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(aiotrio.run_asyncio, aio_part, started)
                await started.wait()
                scope.cancel()
        events.append(f"trio cancelled: {scope.cancelled_caught}")
        with trio.move_on_after(0.01):
            return await aiotrio.run_asyncio(aio_refuses)
        return None

    async def main() -> int | None:
        return await aiotrio.run_trio(trio_part)

    assert run_on(host, main) == 7
    assert events == ["asyncio exited", "trio cancelled: True"]


def test_exceptions_and_groups_cross_with_tracebacks(host: str) -> None:
    async def trio_fails() -> None:
        await trio.sleep(0)
        raise KeyError("from trio")

    async def fails_at_once() -> None:
        raise KeyError("in a group")

    async def trio_group() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fails_at_once)
            nursery.start_soon(fails_at_once)

    async def aio_fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async def trio_calls_aio() -> None:
        with pytest.raises(ValueError, match="from asyncio") as info:
            await aiotrio.run_asyncio(aio_fails)
        frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert "aio_fails" in frames

    async def main() -> None:
        with pytest.raises(KeyError, match="from trio") as info:
            await aiotrio.run_trio(trio_fails)
        frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert "trio_fails" in frames
        with pytest.raises(ExceptionGroup) as group:
            await aiotrio.run_trio(trio_group)
        assert [type(exc) for exc in group.value.exceptions] == [KeyError, KeyError]
        await aiotrio.run_trio(trio_calls_aio)

    run_on(host, main)


def test_contextvars_cross_as_a_copy(host: str) -> None:
    async def trio_part() -> str:
        seen = var.get()
        var.set("changed in trio")
        return seen + " / " + await aiotrio.run_asyncio(aio_part)

    async def aio_part() -> str:
        seen = var.get()
        var.set("changed in asyncio")
        return seen

    async def main() -> tuple[str, str]:
        var.set("from asyncio")
        return await aiotrio.run_trio(trio_part), var.get()

    assert run_on(host, main) == ("from asyncio / changed in trio", "from asyncio")


def test_adapters_work_on_a_guest_run(host: str) -> None:
    async def trio_numbers(count: int) -> AsyncIterator[int]:
        for number in range(count):
            await trio.sleep(0)
            yield number

    async def aio_numbers(count: int) -> AsyncIterator[int]:
        for number in range(count):
            await asyncio.sleep(0)
            yield number

    class AioManager:
        async def __aenter__(self) -> str:
            self.task = asyncio.current_task()
            return "entered"

        async def __aexit__(self, *exc: object) -> None:
            assert asyncio.current_task() is self.task  # one task enters and exits

    async def trio_side() -> list[Any]:
        got: list[Any] = [await aiotrio.aio_as_trio(_aio_add)(1, 1)]
        got.append(await aiotrio.aio_as_trio(asyncio.sleep(0, "awaited")))
        async with aiotrio.aio_as_trio(AioManager()) as value:
            got.append(value)
        got.append([n async for n in aiotrio.aio_as_trio(aio_numbers(3))])
        return got

    async def main() -> list[Any]:
        got: list[Any] = [await aiotrio.trio_as_aio(_trio_mul)(3, 3)]
        assert await aiotrio.trio_as_aio(_trio_mul(2, 5)) == 10  # a Trio awaitable
        got.append([n async for n in aiotrio.trio_as_aio(trio_numbers(3))])
        async with aiotrio.trio_as_aio(trio.open_nursery()) as nursery:
            done = trio.Event()

            async def set_done() -> None:
                done.set()

            nursery.start_soon(set_done)
            await aiotrio.run_trio(done.wait)
        got.append(done.is_set())
        # A Trio cancel scope used from asyncio code cancels the asyncio body.
        async with aiotrio.trio_as_aio(trio.move_on_after(0.01)) as scope:
            await asyncio.sleep(3600)
        got.append(scope.cancelled_caught)
        got.extend(await aiotrio.run_trio(trio_side))
        return got

    assert run_on(host, main) == [9, [0, 1, 2], True, True, 2, "awaited", "entered", [0, 1, 2]]


def test_trio_tasks_left_running_end_before_the_loop_closes(host: str) -> None:
    events: list[str] = []

    async def trio_forever(name: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            events.append(f"{name} finally")
            # The host loop still runs: the finally may even call asyncio code.
            with trio.CancelScope(shield=True):
                total = await aiotrio.run_asyncio(_aio_add, 1, 1)
            events.append(f"asyncio reached: {total}")

    async def main() -> None:
        asyncio.get_running_loop().create_task(aiotrio.run_trio(trio_forever, "awaited"))
        aiotrio.trio_as_aio(trio_forever)("unawaited")  # a future nobody awaits
        await aiotrio.run_trio(trio.sleep, 0)

    run_on(host, main)
    assert sorted(events) == [
        "asyncio reached: 2",
        "asyncio reached: 2",
        "awaited finally",
        "unawaited finally",
    ]


def test_a_second_asyncio_run_gets_a_fresh_guest(host: str) -> None:
    async def main() -> trio.lowlevel.TrioToken:
        return await aiotrio.run_trio(_token)

    first = run_on(host, main)
    second = run_on(host, main)
    assert first is not second
    assert not trio.lowlevel.in_trio_run()


def test_stop_guest_ends_the_run_early(host: str) -> None:
    events: list[str] = []

    async def trio_forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            events.append("trio finally")

    async def main() -> bool:
        await aiotrio.stop_guest()  # no guest yet: nothing to do
        token = await aiotrio.run_trio(_token)
        task = asyncio.ensure_future(aiotrio.run_trio(trio_forever))
        await aiotrio.run_trio(trio.sleep, 0)  # the Trio task is running now
        await aiotrio.stop_guest()
        events.append("stopped")
        assert task.cancelled()
        assert not trio.lowlevel.in_trio_run()
        fresh = await aiotrio.run_trio(_token)
        return fresh is not token

    assert run_on(host, main) is True
    assert events == ["trio finally", "stopped"]


def test_trio_async_generators_belong_to_trio_asyncio_ones_to_the_host(host: str) -> None:
    closed_in: dict[str, str] = {}
    kept: list[Any] = []

    async def agen(name: str) -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed_in[name] = sniffio.current_async_library()

    async def trio_part() -> None:
        trio_gen = agen("trio")
        await trio_gen.__anext__()
        kept.append(trio_gen)  # left suspended: Trio closes it when its run ends

    async def main() -> None:
        aio_gen = agen("asyncio")
        await aio_gen.__anext__()
        kept.append(aio_gen)  # left suspended: the loop's shutdown_asyncgens closes it
        await aiotrio.run_trio(trio_part)

    run_on(host, main)
    assert closed_in == {"trio": "trio", "asyncio": "asyncio"}


def test_a_loop_closed_by_hand_after_shutdown_asyncgens_ends_the_run(host: str) -> None:
    events: list[str] = []

    async def trio_forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            events.append("trio finally")

    async def main() -> None:
        aiotrio.trio_as_aio(trio_forever)()
        await aiotrio.run_trio(trio.sleep, 0)

    loop = loop_factory(host)()
    try:
        loop.run_until_complete(main())
        assert events == []  # the run lives on between run_until_complete calls
        loop.run_until_complete(loop.shutdown_asyncgens())
        assert events == ["trio finally"]
    finally:
        loop.close()
    assert not trio.lowlevel.in_trio_run()


def test_one_guest_per_thread(host: str) -> None:
    first = loop_factory(host)()
    second = loop_factory(host)()
    try:
        first.run_until_complete(aiotrio.run_trio(trio.sleep, 0))
        with pytest.raises(RuntimeError, match=r"one run per thread.*stop_guest"):
            second.run_until_complete(aiotrio.run_trio(trio.sleep, 0))
        first.run_until_complete(aiotrio.stop_guest())
        assert second.run_until_complete(aiotrio.run_trio(_trio_mul, 2, 2)) == 4
        second.run_until_complete(second.shutdown_asyncgens())
    finally:
        first.close()
        second.close()


def test_bad_input_gets_clear_errors(host: str) -> None:
    coro = aiotrio.run_trio(trio.sleep, 0)
    with pytest.raises(RuntimeError, match=r"run_trio\(\) must be called from asyncio code"):
        coro.send(None)

    async def plain_trio() -> None:
        with pytest.raises(RuntimeError, match=r"run_asyncio\(\) needs an asyncio loop"):
            await aiotrio.run_asyncio(_aio_add, 1, 2)
        with pytest.raises(RuntimeError, match=r"aio_as_trio\(\) needs an asyncio loop"):
            await aiotrio.aio_as_trio(_aio_add)(1, 2)

    trio.run(plain_trio)

    async def guest_side() -> None:
        coro = _aio_add(1, 2)
        with pytest.raises(TypeError, match="async function"):
            await aiotrio.run_asyncio(coro)  # type: ignore[arg-type]
        coro.close()

    async def main() -> None:
        coro = _trio_mul(1, 2)
        with pytest.raises(TypeError, match="not a coroutine object"):
            await aiotrio.run_trio(coro)  # type: ignore[arg-type]
        coro.close()
        await aiotrio.run_trio(guest_side)

    run_on(host, main)


def test_many_concurrent_calls_and_io_waits(host: str) -> None:
    async def trio_echo_pair(index: int) -> int:
        left, right = trio.testing.memory_stream_pair()
        await left.send_all(b"x" * index)
        return len(await right.receive_some(1000))

    async def trio_socket_round_trip() -> bytes:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:

            async def serve(stream: trio.SocketStream) -> None:
                async with stream:
                    await stream.send_all((await stream.receive_some(100)).upper())

            nursery.start_soon(trio.serve_listeners, serve, listeners)
            async with await trio.open_tcp_stream("127.0.0.1", port) as client:
                await client.send_all(b"ping")
                reply = await client.receive_some(100)
            nursery.cancel_scope.cancel()
        return reply

    async def main() -> tuple[list[int], bytes]:
        sizes = await asyncio.gather(*(aiotrio.run_trio(trio_echo_pair, i) for i in range(1, 51)))
        return sizes, await aiotrio.run_trio(trio_socket_round_trip)

    sizes, reply = run_on(host, main)
    assert sizes == list(range(1, 51))
    assert reply == b"PING"


_CLOSED_BY_HAND = """
import asyncio, sys, trio, aiotrio
loop = asyncio.SelectorEventLoop()
loop.run_until_complete(aiotrio.run_trio(trio.sleep, 0))
loop.close()  # without shutdown_asyncgens() or stop_guest(): the run is abandoned
try:
    asyncio.run(aiotrio.run_trio(trio.sleep, 0))
except RuntimeError as exc:
    print(exc)
"""


def test_a_loop_closed_by_hand_with_its_guest_running_abandons_it() -> None:
    # In a child process: an abandoned run holds the thread's Trio state for good.
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _CLOSED_BY_HAND],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "was abandoned: that loop was closed without ending it" in result.stdout, result
    assert "Trio allows one run per thread" in result.stdout, result


def test_loops_in_two_threads_get_a_guest_run_each(host: str) -> None:
    tokens: dict[str, trio.lowlevel.TrioToken] = {}
    both_running = threading.Barrier(2, timeout=30)

    async def trio_part(name: str) -> None:
        tokens[name] = trio.lowlevel.current_trio_token()
        await trio.to_thread.run_sync(both_running.wait)  # both runs are alive at once

    async def main(name: str) -> None:
        await aiotrio.run_trio(trio_part, name)

    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            run_on(host, lambda: main("thread"))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    try:
        run_on(host, lambda: main("main"))
    finally:
        thread.join(30)
    assert not errors
    assert tokens["main"] is not tokens["thread"]
