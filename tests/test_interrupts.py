"""KeyboardInterrupt and SystemExit end the program with that exception, never a hang."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from typing import Any

import pytest
import trio
import trio.testing

import aiotrio
from aiotrio import _driver

from .conftest import run_and_interrupt, run_in_mode, run_python_code, sleep_until_cancelled


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_raised_in_asyncio_code_ends_the_run(hosting: str, exc_type: type[BaseException]) -> None:
    cleaned_up: list[str] = []

    async def main() -> None:
        async def background() -> None:
            try:
                await asyncio.sleep(10)
            finally:
                cleaned_up.append("background task unwound")

        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(0)  # the background task has started
        raise exc_type()

    with pytest.raises(exc_type):
        run_in_mode(hosting, main)
    assert cleaned_up == ["background task unwound"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_raised_in_a_plain_callback_inside_open_loop(exc_type: type[BaseException]) -> None:
    async def main() -> None:
        async with aiotrio.open_loop() as loop:

            def explode() -> None:
                raise exc_type()

            loop.call_later(0.01, explode)
            await trio.sleep_forever()  # cancelled by the loop's fatal error

    with pytest.raises(exc_type):
        trio.run(main)


def test_pending_bridge_calls_from_outside_fail_cleanly() -> None:
    """A Trio task outside the block keeps calling into the loop while it closes.

    Calls made while the loop shuts down are cancelled like its other tasks;
    once it has stopped, calls are refused with RuntimeError. None hangs.
    """
    outcomes: list[str] = []

    async def outsider(loop_ready: trio.Event, box: list[aiotrio.EventLoop]) -> None:
        await loop_ready.wait()
        for _ in range(20):
            try:
                await aiotrio.aio_as_trio(asyncio.sleep, loop=box[0])(3600)
            except asyncio.CancelledError:
                outcomes.append("cancelled")
            except RuntimeError as exc:
                assert "is closed" in str(exc) or "is shutting down" in str(exc)
                outcomes.append("refused")
                return

    async def main() -> None:
        box: list[aiotrio.EventLoop] = []
        ready = trio.Event()
        with trio.fail_after(50):  # a clear failure before pytest-timeout's 60 s
            async with trio.open_nursery() as nursery:
                nursery.start_soon(outsider, ready, box)
                async with aiotrio.open_loop() as loop:
                    box.append(loop)
                    ready.set()
                    await trio.testing.wait_all_tasks_blocked()  # the outsider's call waits

    trio.run(main)
    assert outcomes[0] == "cancelled"
    assert outcomes[-1] == "refused"
    assert set(outcomes[:-1]) == {"cancelled"}


_OPEN_LOOP_IDLE = """
import asyncio, aiotrio
async def aio_part():
    print("READY", flush=True)
    await asyncio.sleep(60)
aiotrio.run(aiotrio.run_asyncio, aio_part)
"""

_OPEN_LOOP_BUSY = """
import asyncio, aiotrio
async def aio_part():
    loop = asyncio.get_running_loop()
    def spin():
        loop.call_soon(spin)
    spin()
    print("READY", flush=True)
    await asyncio.sleep(60)
aiotrio.run(aiotrio.run_asyncio, aio_part)
"""

_OPEN_LOOP_STUCK = """
import asyncio, aiotrio
async def aio_part():
    print("READY", flush=True)
    while True:  # never returns to the loop: the interrupt must land right here
        sum(range(1000))
aiotrio.run(aiotrio.run_asyncio, aio_part)
"""

_HOSTED = """
import asyncio, aiotrio
async def main():
    print("READY", flush=True)
    await asyncio.sleep(60)
with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
    runner.run(main())
"""

_TRIO_TASK_WAITING = """
import asyncio, trio, aiotrio
async def main():
    async with aiotrio.open_loop():
        print("READY", flush=True)
        await trio.sleep(60)
aiotrio.run(main)
"""


@pytest.mark.parametrize(
    "program",
    [_OPEN_LOOP_IDLE, _OPEN_LOOP_BUSY, _OPEN_LOOP_STUCK, _HOSTED, _TRIO_TASK_WAITING],
    ids=[
        "open_loop-idle",
        "open_loop-busy",
        "open_loop-stuck",
        "loop_factory",
        "trio-task-waiting",
    ],
)
def test_ctrl_c_ends_the_program_with_keyboard_interrupt(program: str) -> None:
    result = run_and_interrupt(program)
    assert result.returncode in (-signal.SIGINT, 130, 1), result
    assert "KeyboardInterrupt" in result.stderr, result.stderr
    assert "ExceptionGroup" not in result.stderr, result.stderr


def test_ctrl_c_in_asyncio_run_cancels_main_then_raises() -> None:
    program = """
import asyncio, aiotrio
async def main():
    try:
        print("READY", flush=True)
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("main task cancelled", flush=True)
        raise
with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
    runner.run(main())
"""
    result = run_and_interrupt(program)
    assert "main task cancelled" in result.stdout
    assert "KeyboardInterrupt" in result.stderr


def test_system_exit_code_is_kept() -> None:
    program = """
import asyncio, sys, aiotrio
async def main():
    await asyncio.sleep(0)
    sys.exit(7)
aiotrio.run(aiotrio.run_asyncio, main)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 7, result.stderr


def test_interrupt_in_the_drivers_own_steps_still_ends_the_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyboardInterrupt can land while the driver parks, outside any batch."""

    real_park = _driver.Driver._park
    interrupted: list[bool] = []

    async def park_then_interrupt(self: Any, scope: trio.CancelScope) -> None:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        await real_park(self, scope)

    monkeypatch.setattr(_driver.Driver, "_park", park_then_interrupt)

    unwound: list[str] = []

    async def aio_work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            unwound.append("cancelled at shutdown")
            raise

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            loop.create_task(aio_work())  # must still be cancelled at shutdown
            await trio.sleep(10)

    with pytest.raises(KeyboardInterrupt):
        trio.run(main)
    assert interrupted
    assert unwound == ["cancelled at shutdown"]


_INTERRUPTED_BEFORE_THE_CALLBACK = """
import asyncio, sys, trio, aiotrio
from asyncio import events
from aiotrio._driver import Driver
record = []
debug = sys.argv[2] == "debug"

def steps(handle, task):
    return getattr(handle._callback, "__self__", None) is task

def interrupt_in_handle_run_before_callback_of(task):
    # As Trio's SIGINT handler does when the signal lands on the first
    # instructions of asyncio's Handle._run: the handle is out of the ready
    # queue, its callback (the task's wake-up) not called yet.
    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is events.Handle._run.__code__:
            if steps(frame.f_locals["self"], task):
                sys.settrace(None)
                raise KeyboardInterrupt
    sys.settrace(tracer)

def interrupt_in_the_driver_after_the_pop_of(task):
    # As Trio's SIGINT handler does when the signal lands just after the
    # driver's ready.popleft() returned: Handle._run not entered yet.
    loops = {Driver._iterate.__code__, Driver._run_ready.__code__, Driver._run_ready_debug.__code__}
    def in_loop(frame, event, arg):
        handle = frame.f_locals.get("handle")
        if event == "line" and handle is not None and steps(handle, task):
            if handle not in frame.f_locals["ready"]:
                sys.settrace(None)
                raise KeyboardInterrupt
        return in_loop
    def tracer(frame, event, arg):
        if event == "call" and frame.f_code in loops:
            return in_loop
    # _iterate runs iterations in one call: the running one, too.
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code in loops:
            frame.f_trace = in_loop
        frame = frame.f_back
    sys.settrace(tracer)

interrupt_before_callback_of = {
    "handle_run": interrupt_in_handle_run_before_callback_of,
    "driver": interrupt_in_the_driver_after_the_pop_of,
}[sys.argv[1]]

async def aio_part():
    future = asyncio.get_running_loop().create_future()
    async def waiter():
        try:
            await future
        except asyncio.CancelledError:
            record.append("waiter cancelled")  # by the shutdown the interrupt began
            raise
    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0)
    interrupt_before_callback_of(task)
    future.set_result(None)  # queues the task's wake-up
    await task

async def in_debug_mode():
    asyncio.get_running_loop().set_debug(debug)
    await aio_part()

try:
    aiotrio.run(aiotrio.run_asyncio, in_debug_mode)
except KeyboardInterrupt:
    record.append("KeyboardInterrupt")
print(record)
"""


@pytest.mark.parametrize("debug", ["debug", "no-debug"])
@pytest.mark.parametrize("where", ["handle_run", "driver"])
def test_interrupt_before_a_callback_runs_does_not_lose_it(where: str, debug: str) -> None:
    """A KeyboardInterrupt landing after the driver took a handle from the ready queue but
    before its callback (in the driver's loop, or in Handle._run): the callback still runs.

    Lost, it was a task that never resumed, and a shutdown that waited for it forever
    (the Ctrl-C-among-bridge-calls hangs that remained).
    """
    result = run_python_code(_INTERRUPTED_BEFORE_THE_CALLBACK, argv=[where, debug], timeout=15)
    # The wake-up ran, after the shutdown had cancelled the task (so the task
    # sees CancelledError, as asyncio gives a ready task cancelled before it runs).
    assert result.stdout.strip() == "['waiter cancelled', 'KeyboardInterrupt']", result
    assert "destroyed" not in result.stderr, result.stderr


_FIRST_CTRL_C_TO_TRIO_SECOND_TO_THE_LOOP = """
import asyncio, signal, trio, aiotrio

@trio.lowlevel.enable_ki_protection
def ctrl_c_in_protected_code():
    # Trio defers it to the main task, which waits in run_asyncio(main).
    signal.raise_signal(signal.SIGINT)

async def main():
    loop = asyncio.get_running_loop()
    try:
        loop.call_soon(ctrl_c_in_protected_code)
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("CLEANING", flush=True)
        # A stuck cleanup; the second Ctrl-C lands in a loop callback, where
        # Trio raises it (it goes to open_loop()'s fatal-error path).
        loop.call_soon(signal.raise_signal, signal.SIGINT)
        await asyncio.sleep(3600)
        raise

try:
    aiotrio.run(aiotrio.run_asyncio, main)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_second_ctrl_c_ends_a_stuck_cleanup_wherever_the_first_one_went() -> None:
    """The first Ctrl-C reached the main task (deferred by Trio), the second a loop callback.

    open_loop() counted Ctrl-Cs among its fatal errors only, so it took the
    second for a first one and went on waiting for the cleanup: a hang (the
    fault matrix's busy:twice cells).
    """
    result = run_python_code(_FIRST_CTRL_C_TO_TRIO_SECOND_TO_THE_LOOP, timeout=15)
    assert result.stdout.split() == ["CLEANING", "KeyboardInterrupt"], result


_INTERRUPTED_WHILE_A_TRIO_MANAGER_IS_HELD = """
import asyncio, sys, trio, aiotrio
from aiotrio._adapters import _HeldTrioContext

manager_kind, where = sys.argv[1], sys.argv[2]

def interrupt_at(code, line_offset):
    # As Trio's SIGINT handler does when the signal lands on that line.
    def in_frame(frame, event, arg):
        if event == "line" and frame.f_lineno == code.co_firstlineno + line_offset:
            sys.settrace(None)
            raise KeyboardInterrupt
        return in_frame
    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is code:
            return in_frame
    sys.settrace(tracer)

def line_of(fn, text):
    import inspect
    lines, first = inspect.getsourcelines(fn)
    return next(n for n, line in enumerate(lines) if text in line)

async def main():
    manager = trio.move_on_after(3600) if manager_kind == "scope" else trio.open_nursery()
    held = aiotrio.trio_as_aio(manager)
    if where == "enter":  # the Trio call started, not yet recorded
        interrupt_at(_HeldTrioContext.enter.__code__,
                     line_of(_HeldTrioContext.enter, "self._entered.call = call"))
    await held.__aenter__()
    if where == "gap":
        # In the task's own frame, after __aenter__ returned and before the
        # body: `async with` then calls no __aexit__.
        raise KeyboardInterrupt
    if where == "exit":  # __aexit__ called, the manager not yet told
        interrupt_at(_HeldTrioContext.exit.__code__, 1)
    await held.__aexit__(None, None, None)
    print("exited without an interrupt")

try:
    aiotrio.run(aiotrio.run_asyncio, main)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.mark.parametrize("where", ["enter", "gap", "exit"])
@pytest.mark.parametrize("manager", ["scope", "nursery"])
def test_interrupt_in_the_asyncio_side_does_not_hold_the_trio_manager(
    manager: str, where: str
) -> None:
    """A Ctrl-C in the asyncio task that uses ``trio_as_aio(cm)``, wherever it lands: in
    ``__aenter__``, between it and the body, or in ``__aexit__`` before the manager was
    told. Held open with no exit to come, the Trio manager kept the block's shutdown
    waiting for its call forever (the fault matrix's bridges:twice cells)."""
    result = run_python_code(
        _INTERRUPTED_WHILE_A_TRIO_MANAGER_IS_HELD, argv=[manager, where], timeout=15
    )
    assert result.stdout.split() == ["KeyboardInterrupt"], result
    assert "never retrieved" not in result.stderr, result.stderr


_INTERRUPTED_IN_A_WEAK_CALLBACK = """
import asyncio, signal, sys, weakref
import aiotrio

class Item:
    pass

collection = weakref.{collection}()
callback_code = collection._remove.__code__

def interrupt_inside_the_weak_callback():
    # SIGINT arrives while the collection's clean-up callback runs (as when
    # asyncio's WeakSet of tasks forgets a freed task on 3.11-3.13).
    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is callback_code:
            sys.settrace(None)
            signal.raise_signal(signal.SIGINT)
    sys.settrace(tracer)

async def aio_part():
    item = Item()
    if isinstance(collection, weakref.WeakSet):
        collection.add(item)
    elif isinstance(collection, weakref.WeakKeyDictionary):
        collection[item] = 1
    else:
        collection[1] = item
    interrupt_inside_the_weak_callback()
    del item  # the callback runs here
    sys.settrace(None)
    print("ALIVE", flush=True)
    await asyncio.sleep(3600)

try:
    aiotrio.run(aiotrio.run_asyncio, aio_part)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.mark.parametrize("collection", ["WeakSet", "WeakKeyDictionary", "WeakValueDictionary"])
def test_interrupt_inside_a_weak_collection_callback_is_not_lost(collection: str) -> None:
    """Raised in a weakref callback, a KeyboardInterrupt is dropped ("Exception ignored").

    Lost, the program ran on after its Ctrl-C (seen in the Ctrl-C-among-bridge-calls
    test on 3.13); the interrupt is now deferred to the main task, as in ``__del__``.
    """
    result = run_python_code(
        _INTERRUPTED_IN_A_WEAK_CALLBACK.format(collection=collection), timeout=15
    )
    assert result.stdout.split() == ["ALIVE", "KeyboardInterrupt"], result
    assert "Exception ignored" not in result.stderr, result.stderr


def test_interrupt_delivered_during_the_shutdown_still_shuts_the_loop_down() -> None:
    """Trio delivers a pending KeyboardInterrupt at the main task's next checkpoint, which
    can be one of the block's shutdown, shielded as it is: the shutdown goes on anyway.

    Without that, the driver was never asked to exit and the block waited forever (seen as
    a hang of `test_sigint_reraised_by_asyncio_code_ends_the_trio_program`).
    """
    events: list[str] = []

    @trio.lowlevel.enable_ki_protection
    def interrupt_protected_code() -> None:
        # Lands in protected code: Trio keeps it pending for its main task.
        signal.raise_signal(signal.SIGINT)

    async def main() -> None:
        async with aiotrio.open_loop() as loop:
            loop.create_task(
                sleep_until_cancelled(events, "asyncio task cancelled by the shutdown")
            )
            await trio.testing.wait_all_tasks_blocked()
            interrupt_protected_code()  # the block ends without another checkpoint

    with pytest.raises(KeyboardInterrupt):
        trio.run(main)
    assert events == ["asyncio task cancelled by the shutdown"]


_FIRST_CTRL_C_INSIDE_TRIO_UNDER_A_RUNNER = """
import asyncio, os, signal, sys, aiotrio
from aiotrio._driver import Driver
record = []

class Watched(asyncio.Future):
    def cancel(self, msg=None):
        codes = set()
        frame = sys._getframe()
        while frame is not None:
            codes.add(frame.f_code)
            frame = frame.f_back
        in_batch = Driver._batch.__code__ in codes
        record.append("cancelled in a batch" if in_batch else "cancelled inside Trio")
        return super().cancel(msg)

def interrupt_when_the_driver_parks():
    # The signal's handler runs in the driver's _park: Trio's own (KI-protected) code.
    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is Driver._park.__code__:
            sys.settrace(None)
            os.kill(os.getpid(), signal.SIGINT)
    sys.settrace(tracer)

async def main():
    future = Watched()
    interrupt_when_the_driver_parks()
    try:
        await future
    except asyncio.CancelledError:
        record.append("main cancelled")
        raise

try:
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        runner.run(main())
except KeyboardInterrupt:
    record.append("KeyboardInterrupt")
print(record)
"""


def test_first_ctrl_c_inside_trio_cancels_the_main_task_from_a_loop_callback() -> None:
    """asyncio.Runner's first Ctrl-C cancels the main task, which reaches Trio (the
    cancel scopes of run_trio calls); landing in Trio's own code, it waits for a
    loop callback, as the second one's KeyboardInterrupt does.

    Called inline, it cancelled from the middle of the interrupted Trio step; the
    fault matrix saw Ctrl-C among bridge calls hang under loop_factory and
    ``python -m aiotrio`` about once in 700 runs, Trio calls left parked.
    """
    result = run_python_code(_FIRST_CTRL_C_INSIDE_TRIO_UNDER_A_RUNNER, timeout=15)
    assert result.stdout.strip() == str(
        ["cancelled in a batch", "main cancelled", "KeyboardInterrupt"]
    ), result
