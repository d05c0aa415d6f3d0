"""Misuse of the public functions: an error of the type asyncio would raise, naming the right call.

The "unclear messages" of ../shared/repros/README.md (issue 12), each as a
new user would write it.
"""

from __future__ import annotations

import asyncio

import pytest
import trio

import aiotrio


async def _aio_fn() -> int:
    await asyncio.sleep(0)
    return 1


async def _trio_fn() -> int:
    await trio.sleep(0)
    return 1


def _sync_fn() -> int:
    return 1


def test_run_given_a_sync_function_names_async_functions() -> None:
    with pytest.raises(TypeError, match=r"aiotrio\.run\(\) expected an async function"):
        aiotrio.run(_sync_fn)  # type: ignore[arg-type]


def test_run_given_a_coroutine_object_shows_the_right_call() -> None:
    coro = _aio_fn()
    with pytest.raises(TypeError, match=r"not aiotrio\.run\(main\(arg\)\)"):
        aiotrio.run(coro)  # type: ignore[arg-type]
    assert coro.cr_frame is None  # closed: no "never awaited" warning later


def test_open_loop_outside_trio_says_where_it_belongs() -> None:
    async def from_asyncio() -> None:
        async with aiotrio.open_loop():
            pass

    with (
        asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner,
        pytest.raises(RuntimeError, match=r"open_loop\(\) is Trio-flavored.*run_trio"),
    ):
        runner.run(from_asyncio())


def test_open_loop_in_an_aiotrio_asyncio_task_leaves_the_loop_working() -> None:
    async def main() -> str:
        with pytest.raises(RuntimeError, match="Trio-flavored"):
            async with aiotrio.open_loop():
                pass
        await asyncio.sleep(0.001)
        return "works"

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == "works"


# run_trio on a stock loop is no misuse any more: Trio runs as that loop's guest
# (tests/test_guest.py, which also checks run_trio with no running loop at all).


def test_run_trio_given_a_coroutine_or_an_asyncio_function() -> None:
    async def main() -> int:
        coro = _trio_fn()
        try:
            with pytest.raises(TypeError, match="coroutine object"):
                await aiotrio.run_trio(coro)  # type: ignore[arg-type]
        finally:
            coro.close()
        with pytest.raises(TypeError, match=r"asyncio function.*await it directly"):
            await aiotrio.run_trio(asyncio.sleep, 0)
        return await aiotrio.run_trio(_trio_fn)

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == 1


def test_trio_bridges_from_asyncio_code_name_the_right_call() -> None:
    async def main() -> int:
        with pytest.raises(RuntimeError, match=r"run_asyncio\(\).*from asyncio code"):
            await aiotrio.run_asyncio(_aio_fn)
        with pytest.raises(RuntimeError, match=r"aio_as_trio.*from asyncio code"):
            await aiotrio.aio_as_trio(_aio_fn)()
        with pytest.raises(RuntimeError, match=r"aio_as_trio.*from asyncio code"):
            async with aiotrio.aio_as_trio(asyncio.timeout(1)):
                pass
        return await _aio_fn()  # the loop still works

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == 1


@pytest.mark.xfail(
    strict=True,
    reason="defect: Trio's runner raises its own TypeError for a foreign yield "
    "('unrecognized yield message'); aiotrio has no hook there to name aio_as_trio",
)
def test_asyncio_code_awaited_directly_in_trio_names_the_bridge() -> None:
    async def main() -> None:
        async with aiotrio.open_loop():
            await asyncio.sleep(0)

    with pytest.raises(TypeError, match="aio_as_trio"):
        trio.run(main)
