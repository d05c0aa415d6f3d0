"""Regression tests for the reproducers in ../shared/repros (issue 12: never hang, never lose).

Anything that could hang runs in a child process with a hard time limit
(`tests.faults.child.run_child`), so a regression fails the test instead of
stalling the suite.
"""

from __future__ import annotations

import asyncio
import math
import textwrap
from typing import Any
from unittest import mock

import pytest
import trio
import trio.testing

import aiotrio

from .conftest import READINESS
from .faults.child import ChildResult, run_child

_ENV = {"AIOTRIO_READINESS": READINESS}


def _child(code: str, *, timeout: float = 15, **kwargs: Any) -> ChildResult:
    return run_child(textwrap.dedent(code), timeout=timeout, env=_ENV, **kwargs)


# -- aio_as_trio(cm) in a cancelled scope ------------------------------------------------


def test_aio_as_trio_context_manager_in_a_cancelled_scope_is_skipped() -> None:
    result = _child(
        """
        import contextlib, trio, aiotrio

        @contextlib.asynccontextmanager
        async def cm():
            print("cm entered")
            yield "value"

        async def main():
            async with aiotrio.open_loop():
                with trio.CancelScope() as cs:
                    cs.cancel()
                    async with aiotrio.aio_as_trio(cm()) as v:
                        print("body", v)
                print("cancelled_caught", cs.cancelled_caught)

        trio.run(main)
        print("done")
        """
    )
    assert not result.hung, result.describe()
    assert result.returncode == 0, result.describe()
    assert "cancelled_caught True" in result.stdout
    assert "body" not in result.stdout
    assert result.stdout.rstrip().endswith("done")


# -- KeyboardInterrupt / SystemExit in an add_reader callback ---------------------------

_READER_RAISES = """
import socket, trio, aiotrio

async def main():
    a, b = socket.socketpair()
    def on_readable():
        raise {exc}
    aiotrio.current_loop().add_reader(a.fileno(), on_readable)
    b.send(b"x")          # `a` stays readable: the callback runs again and again
    await trio.sleep_forever()

aiotrio.run(main)
"""


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "SystemExit(3)"])
def test_interrupt_raised_in_a_reader_callback_ends_aiotrio_run(exc: str) -> None:
    result = _child(_READER_RAISES.format(exc=exc))
    assert not result.hung, result.describe()
    if exc == "KeyboardInterrupt":
        assert result.interrupted, result.describe()
    else:
        assert result.returncode == 3, result.describe()


# -- Ctrl-C twice during a slow cleanup -------------------------------------------------

_SLOW_CLEANUP = """
import asyncio, sys, aiotrio

async def main():
    try:
        print("READY", flush=True)
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("CLEANING", flush=True)
        await asyncio.sleep(3600)      # a slow or stuck cleanup

mode = sys.argv[1]
if mode == "factory":
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        runner.run(main())
elif mode == "run":
    aiotrio.run(aiotrio.run_asyncio, main)
else:
    asyncio.run(main())
"""


def _ctrl_c_twice(argv: list[str]) -> ChildResult:
    # If the first Ctrl-C lands in the task's own code before it awaits, the
    # KeyboardInterrupt is raised there and the program ends without the
    # cleanup (CLEANING never printed): also a correct end.
    return run_child(argv, timeout=15, env=_ENV, interrupts=[("READY", 0.0), ("CLEANING", 0.05)])


@pytest.mark.parametrize("mode", ["stock", "factory", "run"])
def test_second_ctrl_c_during_slow_cleanup_ends_the_program(mode: str) -> None:
    result = _ctrl_c_twice(["-c", _SLOW_CLEANUP, mode])
    assert not result.hung, result.describe()
    assert result.interrupted, result.describe()
    assert "AssertionError" not in result.stderr, result.describe()
    assert "was destroyed but it is pending" not in result.stderr, result.describe()


def test_second_ctrl_c_during_slow_cleanup_ends_python_m_aiotrio(tmp_path: Any) -> None:
    script = tmp_path / "slow_cleanup.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio

            async def main():
                try:
                    print("READY", flush=True)
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    print("CLEANING", flush=True)
                    await asyncio.sleep(3600)

            asyncio.run(main())
            """
        )
    )
    result = _ctrl_c_twice(["-m", "aiotrio", str(script)])
    assert not result.hung, result.describe()
    assert result.interrupted, result.describe()
    assert "AssertionError" not in result.stderr, result.describe()
    assert "was destroyed but it is pending" not in result.stderr, result.describe()


# -- Ctrl-C while Trio and asyncio call each other ------------------------------------

_BRIDGE_STORM = """
import asyncio, trio, aiotrio

async def trio_leaf():
    await trio.sleep(0)

async def aio_middle():
    await aiotrio.run_trio(trio_leaf)

async def caller():
    while True:
        await aiotrio.run_asyncio(aio_middle)

async def main():
    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(caller)
        print("RUNNING", flush=True)

aiotrio.run(main)
"""


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.1, 0.2])
def test_ctrl_c_among_bridge_calls_always_ends_the_program(delay: float) -> None:
    result = _child(_BRIDGE_STORM, interrupts=[("RUNNING", delay)])
    assert not result.hung, result.describe()
    assert result.interrupted, result.describe()


# -- asyncio.timeout() around trio_as_aio(move_on_after) -------------------------------


def test_asyncio_timeout_around_a_trio_cancel_scope_gives_timeout_error() -> None:
    async def main() -> tuple[int, int, int]:
        escaped = timed_out = 0
        for delay in [0, 0.0001, 0.0003, 0.001] * 10:
            try:
                async with asyncio.timeout(delay):
                    async with aiotrio.trio_as_aio(trio.move_on_after(10)):
                        await asyncio.sleep(1)
            except TimeoutError:
                timed_out += 1
            except asyncio.CancelledError:
                escaped += 1
                current = asyncio.current_task()
                assert current is not None
                current.uncancel()
        loop = asyncio.get_running_loop()
        assert isinstance(loop, aiotrio.EventLoop)
        return escaped, timed_out, len(list(loop._trio.bridges.trio_calls()))

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        escaped, timed_out, left_running = runner.run(main())
    assert (escaped, timed_out, left_running) == (0, 40, 0)


# -- misuse: Trio-flavored bridges awaited from asyncio code --------------------------

_AWAITED_FROM_ASYNCIO = """
import asyncio, aiotrio

async def misuse():
    return await {call}

async def still_works():
    await asyncio.sleep(0.001)
    return "loop works"

with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
    try:
        runner.run(misuse())
    except RuntimeError as exc:
        print("RuntimeError:", exc)
    print(runner.run(still_works()))
"""


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("aiotrio.run_asyncio(asyncio.sleep, 0, 'x')", "run_asyncio"),
        ("aiotrio.aio_as_trio(asyncio.sleep)(0)", "aio_as_trio"),
        ("aiotrio.aio_as_trio(asyncio.sleep(0))", "aio_as_trio"),
    ],
)
def test_trio_bridge_awaited_from_asyncio_is_a_clear_error(call: str, named: str) -> None:
    result = _child(_AWAITED_FROM_ASYNCIO.format(call=call))
    assert not result.hung, result.describe()
    assert result.returncode == 0, result.describe()
    first, second = result.stdout.splitlines()[:2]
    assert first.startswith("RuntimeError:") and named in first, result.describe()
    assert "from asyncio code" in first, result.describe()
    assert second == "loop works", result.describe()
    assert "Task got bad yield" not in result.stderr, result.describe()


def test_run_asyncio_given_a_trio_function_is_a_clear_error() -> None:
    async def main() -> str:
        with pytest.raises(TypeError, match=r"run_asyncio\(\) runs asyncio code.*Trio function"):
            await aiotrio.run_asyncio(trio.sleep, 1)
        return await aiotrio.run_asyncio(asyncio.sleep, 0, "loop works")

    assert aiotrio.run(main) == "loop works"


# -- timers: bad deadlines, NaN, a patched clock -------------------------------------


def test_call_at_with_a_bad_deadline_from_trio_raises_type_error_at_the_call() -> None:
    result = _child(
        """
        import trio, aiotrio

        async def main():
            loop = aiotrio.current_loop()
            try:
                loop.call_at("x", print)
            except TypeError as exc:
                print("TypeError:", exc)
            fired = trio.Event()
            loop.call_later(0, fired.set)
            with trio.fail_after(10):
                await fired.wait()
            print("loop works")

        aiotrio.run(main)
        """
    )
    assert not result.hung, result.describe()
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith("TypeError:"), result.describe()
    assert "loop works" in result.stdout


def test_call_at_with_a_bad_deadline_raises_type_error_as_asyncio_does() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for bad in ("x", [1.0], object()):
            with pytest.raises(TypeError):
                loop.call_at(bad, print)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                loop.call_later(bad, print)  # type: ignore[arg-type]

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        runner.run(main())


def test_nan_timer_added_while_the_driver_is_parked_fires_at_once() -> None:
    async def main() -> None:
        loop = aiotrio.current_loop()
        await trio.testing.wait_all_tasks_blocked()  # the driver has parked
        fired = trio.Event()
        loop.call_later(math.nan, fired.set)
        with trio.fail_after(10):  # 10 s of real time: a parked driver never gets there
            await fired.wait()

    aiotrio.run(main)


async def _timer_due_by_patched_time() -> list[str]:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    now = loop.time()
    with mock.patch.object(loop, "time") as time_mock:
        time_mock.return_value = now
        loop.call_at(now + 75, fired.append, "fired")
        time_mock.return_value = now + 75
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    return fired


def test_timers_follow_a_patched_loop_time(run_aio: Any) -> None:
    assert run_aio(_timer_due_by_patched_time) == ["fired"]


class _ShiftedLoop(aiotrio.EventLoop):
    """A loop whose clock runs an hour ahead of the Trio clock."""

    def time(self) -> float:
        return super().time() + 3600


def test_timers_follow_an_overridden_time_method() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.01)
        fired = asyncio.Event()
        loop.call_at(loop.time() + 0.01, fired.set)
        await asyncio.wait_for(fired.wait(), 10)
        return loop.time() - started

    with asyncio.Runner(loop_factory=_ShiftedLoop) as runner:
        elapsed = runner.run(main())
    assert 0.02 <= elapsed < 10


def test_stock_asyncio_agrees_on_patched_time() -> None:
    """The patched-time expectation above is stock asyncio's behaviour.

    (A NaN timer is not compared: stock asyncio runs it at once when callbacks are ready,
    and otherwise fails computing its select() timeout, "cannot convert float NaN to
    integer", depending on what else is scheduled; aiotrio always runs it at once.)
    """
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        assert runner.run(_timer_due_by_patched_time()) == ["fired"]


# -- a Trio call cancelled before it starts ------------------------------------------


def test_trio_call_cancelled_before_it_starts_ends_cancelled(run_aio: Any) -> None:
    async def no_checkpoint() -> str:
        return "result"

    async def main() -> None:
        call = aiotrio.trio_as_aio(no_checkpoint)()
        assert call.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await call
        assert call.cancelled()
        # The same through run_trio: the awaiting task is cancelled first.
        task = asyncio.ensure_future(aiotrio.run_trio(no_checkpoint))
        await asyncio.sleep(0)  # run_trio has started the call
        assert task.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await task

    run_aio(main)
