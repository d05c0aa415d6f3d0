"""add_signal_handler/remove_signal_handler, living alongside Trio's own signal handling."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio

import aiotrio

from ..conftest import run_and_interrupt

if TYPE_CHECKING:
    from collections.abc import Callable


def _current_wakeup_fd() -> int:
    """Read signal.set_wakeup_fd's fd without changing it (Trio sets warn_on_full_buffer=False)."""
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return fd


def test_handler_runs_in_the_loop_with_its_args(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        calls: list[object] = []
        got = asyncio.Event()

        def handler(*args: object) -> None:
            calls.append((args, asyncio.get_running_loop() is loop))
            got.set()

        loop.add_signal_handler(signal.SIGUSR1, handler, "a", 1)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(got.wait(), 20)
            got.clear()
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(got.wait(), 20)
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)
        return calls

    assert run_aio(main) == [(("a", 1), True), (("a", 1), True)]


def test_signal_from_another_thread_wakes_a_parked_loop(run_aio: Callable[..., Any]) -> None:
    """The loop is parked in Trio when the signal comes: the handler must still run soon."""

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR2, got.set)
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR2))
        timer.start()
        try:
            await asyncio.wait_for(got.wait(), 20)
        finally:
            timer.join()
            loop.remove_signal_handler(signal.SIGUSR2)
        return got.is_set()

    assert run_aio(main) is True


def test_trio_wakeup_fd_is_left_alone(run_aio: Callable[..., Any]) -> None:
    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        seen = [_current_wakeup_fd()]
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, got.set)
        seen.append(_current_wakeup_fd())
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(got.wait(), 20)
        seen.append(_current_wakeup_fd())
        loop.remove_signal_handler(signal.SIGUSR1)
        seen.append(_current_wakeup_fd())
        # Stock asyncio points the wakeup fd at its self-pipe: aiotrio must not.
        return seen, loop._csock.fileno()  # type: ignore[attr-defined]

    # Both hosting modes run inside trio.run, which owns the wakeup fd.
    seen, self_pipe = run_aio(main)
    assert seen[0] not in (-1, self_pipe)
    assert seen == [seen[0]] * 4
    assert _current_wakeup_fd() == -1  # and Trio put back what was there before the run


def test_wakeup_fd_seen_by_trio_code_is_unchanged() -> None:
    """From the Trio side of an open_loop() program: before, during and after the block."""

    async def asyncio_side() -> None:
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR2, got.set)
        loop.add_signal_handler(signal.SIGINT, got.set)
        os.kill(os.getpid(), signal.SIGUSR2)
        await asyncio.wait_for(got.wait(), 20)
        loop.remove_signal_handler(signal.SIGINT)
        # SIGUSR2 stays installed: leaving open_loop() must clean it up.

    async def main() -> list[int]:
        seen = [_current_wakeup_fd()]  # Trio's, before any loop exists
        async with aiotrio.open_loop():
            await aiotrio.run_asyncio(asyncio_side)
            seen.append(_current_wakeup_fd())
        seen.append(_current_wakeup_fd())
        return seen

    previous = signal.getsignal(signal.SIGUSR2)
    seen = trio.run(main)
    assert seen[0] != -1
    assert seen == [seen[0]] * 3
    assert signal.getsignal(signal.SIGUSR2) is previous


def test_previous_handlers_are_restored(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()

        def mine(signum: int, frame: object) -> None:
            pass

        previous = signal.signal(signal.SIGUSR1, mine)
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
            # Re-adding replaces our callback but must remember `mine`, not our first handler.
            loop.add_signal_handler(signal.SIGUSR1, print, "replaced")
            replaced = signal.getsignal(signal.SIGUSR1) is not mine
            loop.remove_signal_handler(signal.SIGUSR1)
            restored = signal.getsignal(signal.SIGUSR1) is mine
        finally:
            signal.signal(signal.SIGUSR1, previous)
        return [replaced, restored, loop.remove_signal_handler(signal.SIGUSR1)]

    assert run_aio(main) == [True, True, False]


def test_sigint_handler_takes_over_ctrl_c_and_gives_it_back(run_aio: Callable[..., Any]) -> None:
    """While an asyncio SIGINT handler is installed it gets SIGINT; after removal Trio's is back."""

    async def main() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        trios = signal.getsignal(signal.SIGINT)
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, got.set)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: ours runs instead
        await asyncio.wait_for(got.wait(), 20)
        loop.remove_signal_handler(signal.SIGINT)
        return got.is_set(), signal.getsignal(signal.SIGINT) is trios

    assert run_aio(main) == (True, True)


def test_closing_the_loop_removes_its_handlers() -> None:
    loop = aiotrio.new_event_loop()
    before = signal.getsignal(signal.SIGUSR1)
    try:
        loop.run_until_complete(_add_handler(signal.SIGUSR1))
        assert signal.getsignal(signal.SIGUSR1) is not before
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGUSR1) is before


async def _add_handler(sig: int) -> None:
    asyncio.get_running_loop().add_signal_handler(sig, print)


def test_signal_between_two_runs_is_handled_by_the_next() -> None:
    """Hosted: a signal that arrives while the loop is not running waits for the next run."""
    loop = aiotrio.new_event_loop()
    seen: list[str] = []
    handled = loop.create_future()

    def handler() -> None:
        seen.append("handled")
        handled.set_result(None)

    try:
        loop.run_until_complete(_add_handler(signal.SIGUSR1))
        loop.add_signal_handler(signal.SIGUSR1, handler)
        os.kill(os.getpid(), signal.SIGUSR1)  # no loop, no trio.run: only queued
        assert seen == []
        loop.run_until_complete(asyncio.wait_for(handled, 20))
        assert seen == ["handled"]
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.close()


def test_errors_as_asyncio_raises_them(run_aio: Callable[..., Any]) -> None:
    async def main() -> dict[str, tuple[str, str]]:
        loop = asyncio.get_running_loop()

        async def coroutine_function() -> None:
            pass

        outcomes: dict[str, tuple[str, str]] = {}
        coroutine = coroutine_function()
        cases: dict[str, Callable[[], object]] = {
            "coroutine function": lambda: loop.add_signal_handler(
                signal.SIGUSR1, coroutine_function
            ),
            "coroutine object": lambda: loop.add_signal_handler(
                signal.SIGUSR1,
                coroutine,  # type: ignore[arg-type]
            ),
            "signal 0": lambda: loop.add_signal_handler(0, print),
            "signal NSIG": lambda: loop.add_signal_handler(signal.NSIG, print),
            "not an int": lambda: loop.add_signal_handler("SIGUSR1", print),  # type: ignore[arg-type]
            "SIGKILL": lambda: loop.add_signal_handler(signal.SIGKILL, print),
            "SIGSTOP": lambda: loop.add_signal_handler(signal.SIGSTOP, print),
            "remove signal 0": lambda: loop.remove_signal_handler(0),
        }
        for case, call in cases.items():
            try:
                call()
            except (TypeError, ValueError, RuntimeError) as exc:
                outcomes[case] = (type(exc).__name__, str(exc))
        coroutine.close()
        return outcomes

    outcomes = run_aio(main)
    with asyncio.Runner() as stock:  # the reference
        assert stock.run(main()) == outcomes
    assert {case: kind for case, (kind, _) in outcomes.items()} == {
        "coroutine function": "TypeError",
        "coroutine object": "TypeError",
        "signal 0": "ValueError",
        "signal NSIG": "ValueError",
        "not an int": "TypeError",
        "SIGKILL": "RuntimeError",
        "SIGSTOP": "RuntimeError",
        "remove signal 0": "ValueError",
    }
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None)


def test_main_thread_only(run_aio: Callable[..., Any]) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        outcome: list[BaseException] = []

        def from_thread() -> None:
            try:
                loop.add_signal_handler(signal.SIGUSR1, print)
            except RuntimeError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=from_thread)
        thread.start()
        thread.join()
        assert signal.SIGUSR1 not in loop._signal_handlers  # type: ignore[attr-defined]
        return str(outcome[0])

    assert "main thread" in run_aio(main)


def test_closed_loop_refuses_handlers() -> None:
    loop = aiotrio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_signal_handler(signal.SIGUSR1, print)


# -- whole programs: Ctrl-C still works --------------------------------------------------


def test_ctrl_c_still_interrupts_a_trio_program_using_signal_handlers() -> None:
    result = run_and_interrupt(
        """
        import asyncio, os, signal, trio, aiotrio

        async def asyncio_side():
            loop = asyncio.get_running_loop()
            got = asyncio.Event()
            loop.add_signal_handler(signal.SIGUSR1, got.set)
            os.kill(os.getpid(), signal.SIGUSR1)
            await got.wait()
            print("asyncio handled SIGUSR1", flush=True)
            # Borrow SIGINT for a moment, then give it back.
            loop.add_signal_handler(signal.SIGINT, print, "never")
            loop.remove_signal_handler(signal.SIGINT)

        async def main():
            async with aiotrio.open_loop():
                await aiotrio.run_asyncio(asyncio_side)
                print("READY", flush=True)
                await trio.sleep(30)

        trio.run(main)
        """
    )
    assert "KeyboardInterrupt" in result.stderr, result.stderr
    assert result.returncode != 0
    assert result.stdout.splitlines() == ["asyncio handled SIGUSR1", "READY"]


def test_asyncio_program_handles_sigint_itself() -> None:
    """The usual asyncio graceful shutdown: a SIGINT handler that stops the program."""
    result = run_and_interrupt(
        """
        import asyncio, signal, aiotrio

        async def main():
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            print("READY", flush=True)
            await asyncio.wait_for(stop.wait(), 30)
            print("graceful shutdown", flush=True)

        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            runner.run(main())
        print("exited normally", flush=True)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["READY", "graceful shutdown", "exited normally"]
