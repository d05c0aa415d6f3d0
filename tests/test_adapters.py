"""aio_as_trio / trio_as_aio on functions, awaitables, context managers and iterators."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable


async def aio_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def trio_triple(x: int) -> int:
    await trio.sleep(0)
    return 3 * x


def test_aio_as_trio_functions_awaitables_and_decorators() -> None:
    @aiotrio.aio_as_trio
    async def decorated(x: int, *, plus: int = 0) -> int:
        await asyncio.sleep(0)
        return x + plus

    class Service:
        @aiotrio.aio_as_trio
        async def method(self, x: int) -> tuple[Service, int]:
            await asyncio.sleep(0)
            return self, x

    async def main() -> None:
        assert await aiotrio.aio_as_trio(aio_double)(21) == 42
        assert await decorated(1, plus=2) == 3
        service = Service()
        assert await service.method(5) == (service, 5)
        assert await aiotrio.aio_as_trio(aio_double(4)) == 8  # a coroutine object
        loop = aiotrio.current_loop()
        future = await aiotrio.run_asyncio(_make_future_resolved_later, loop)
        assert await aiotrio.aio_as_trio(future) == "resolved"
        assert aiotrio.asyncio_as_trio is aiotrio.aio_as_trio

    aiotrio.run(main)


async def _make_future_resolved_later(loop: asyncio.AbstractEventLoop) -> asyncio.Future[str]:
    future: asyncio.Future[str] = loop.create_future()
    loop.call_soon(future.set_result, "resolved")
    return future


def test_trio_as_aio_functions_and_decorators(run_aio: Callable[..., Any]) -> None:
    @aiotrio.trio_as_aio
    async def decorated(x: int) -> int:
        await trio.sleep(0)
        return x + 1

    async def main() -> list[int]:
        future = aiotrio.trio_as_aio(trio_triple)(3)
        assert isinstance(future, asyncio.Future)
        gathered = await asyncio.gather(future, decorated(1), aiotrio.trio_as_aio(trio_triple)(x=2))
        assert aiotrio.trio_as_asyncio is aiotrio.trio_as_aio
        assert await aiotrio.trio_as_aio(trio_triple(5)) == 15  # a Trio awaitable
        return list(gathered)

    assert run_aio(main) == [9, 2, 6]


def test_aio_as_trio_context_managers_keep_their_task() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def aio_resource() -> AsyncIterator[str]:
        me = asyncio.current_task()
        events.append("enter")
        try:
            yield "resource"
        finally:
            assert asyncio.current_task() is me  # same task on exit
            events.append("exit")

    async def main() -> None:
        async with aiotrio.aio_as_trio(aio_resource()) as value:
            assert value == "resource"
            events.append("body")
        # asyncio.timeout remembers its task between enter and exit. (From
        # Trio, build it with timeout_at: timeout() needs a running loop.) It
        # cancels that task, not the Trio body: the body leaves once the
        # deadline has passed (loop time is Trio's clock) and the timer has run.
        loop = aiotrio.current_loop()
        deadline = loop.time() + 0.01
        with pytest.raises(TimeoutError):
            async with aiotrio.aio_as_trio(asyncio.timeout_at(deadline)):
                await trio.sleep_until(deadline)
                await trio.testing.wait_all_tasks_blocked()
        async with aiotrio.aio_as_trio(asyncio.timeout_at(loop.time() + 3600)):
            await trio.sleep(0)

    aiotrio.run(main)
    assert events == ["enter", "body", "exit"]


def test_aio_as_trio_context_manager_sees_body_errors_and_can_suppress() -> None:
    seen: list[Any] = []

    class Suppressing:
        async def __aenter__(self) -> Suppressing:
            return self

        async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            seen.append(exc_type)
            return exc_type is KeyError

    async def main() -> None:
        async with aiotrio.aio_as_trio(Suppressing()):
            raise KeyError("swallowed")
        with pytest.raises(ValueError, match="kept"):
            async with aiotrio.aio_as_trio(Suppressing()):
                raise ValueError("kept")

    aiotrio.run(main)
    assert seen == [KeyError, ValueError]


def test_aio_as_trio_context_manager_failing_to_enter() -> None:
    class Broken:
        async def __aenter__(self) -> None:
            await asyncio.sleep(0)
            raise OSError("cannot enter")

        async def __aexit__(self, *exc: Any) -> None:
            raise AssertionError("never entered, never exited")

    async def main() -> None:
        with pytest.raises(OSError, match="cannot enter"):
            async with aiotrio.aio_as_trio(Broken()):
                raise AssertionError("body must not run")

    aiotrio.run(main)


def test_aio_as_trio_iterators() -> None:
    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        return [i async for i in aiotrio.aio_as_trio(numbers(4))]

    assert aiotrio.run(main) == [0, 1, 2, 3]


def test_trio_as_aio_iterators(run_aio: Callable[..., Any]) -> None:
    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await trio.sleep(0)
            yield i

    async def main() -> list[int]:
        return [i async for i in aiotrio.trio_as_aio(numbers(4))]

    assert run_aio(main) == [0, 1, 2, 3]


def test_trio_as_aio_nursery_and_cancel_scopes(run_aio: Callable[..., Any]) -> None:
    async def main() -> list[str]:
        events: list[str] = []

        async def trio_child(label: str) -> None:
            await trio.lowlevel.checkpoint()
            events.append(label)

        # A nursery held open by one Trio task while asyncio code uses it.
        async with aiotrio.trio_as_aio(trio.open_nursery()) as nursery:
            nursery.start_soon(trio_child, "child ran")
            events.append("asyncio body")
        events.append("nursery joined")

        # A Trio timeout cancels the asyncio body and is swallowed, as in Trio.
        async with aiotrio.trio_as_aio(trio.move_on_after(0.02)):
            await asyncio.Event().wait()
            events.append("never")
        events.append("moved on")
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0

        with pytest.raises(trio.TooSlowError):
            async with aiotrio.trio_as_aio(trio.fail_after(0.02)):
                await asyncio.Event().wait()
        events.append("failed after")
        return events

    assert run_aio(main) == [
        "asyncio body",
        "child ran",
        "nursery joined",
        "moved on",
        "failed after",
    ]


@pytest.mark.parametrize(
    "manager_does",
    [
        "unwinds",
        "raises",
        "enters anyway",
    ],
)
def test_cancelled_while_entering_a_trio_context_manager(
    run_aio: Callable[..., Any], manager_does: str
) -> None:
    """The asyncio task is cancelled while the Trio task is still in ``__aenter__``.

    The task resumes only once the Trio side has finished entering: with CancelledError if
    the manager unwound, with the manager's own error if it raised one, and, if the manager
    entered anyway (its entry shielded), with CancelledError too, the manager exited again
    and the body never run (asyncio drops a result that arrives for a cancelled task).
    """
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def slow_to_enter(entering: trio.Event) -> AsyncIterator[str]:
        entering.set()
        if manager_does == "enters anyway":
            with trio.CancelScope(shield=True):
                await trio.testing.wait_all_tasks_blocked()  # the cancel has come meanwhile
        else:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                events.append("entry cancelled")
                if manager_does == "raises":
                    raise ValueError("could not enter") from None
                raise
        try:
            yield "value"
        finally:
            events.append("manager exited")

    async def user(entering: trio.Event) -> None:
        async with aiotrio.trio_as_aio(slow_to_enter(entering)) as value:
            events.append(f"body got {value}")
            await asyncio.sleep(0)
            events.append("body went on")

    async def main() -> str:
        entering = trio.Event()
        task = asyncio.ensure_future(user(entering))
        await aiotrio.trio_as_aio(entering.wait)()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "CancelledError"
        except ValueError as exc:
            return f"ValueError: {exc}"
        return "no error"

    outcome = run_aio(main)
    if manager_does == "enters anyway":
        # As when asyncio cancels a task whose awaited result is already in: the
        # result is dropped, so the body never runs; the manager is exited at once.
        assert (outcome, events) == ("CancelledError", ["manager exited"])
    else:
        error = "CancelledError" if manager_does == "unwinds" else "ValueError: could not enter"
        assert (outcome, events) == (error, ["entry cancelled"])


def test_misuse_gives_clear_errors(run_aio: Callable[..., Any]) -> None:
    async def trio_side() -> None:
        with pytest.raises(TypeError, match="not an async context manager"):
            async with aiotrio.aio_as_trio(aio_double):
                pass
        with pytest.raises(TypeError, match="not an async iterable"):
            async for _ in aiotrio.aio_as_trio(aio_double):
                pass
        with pytest.raises(TypeError, match="neither awaitable nor callable"):
            await aiotrio.aio_as_trio(42)
        # An uncalled function is called with no arguments (trio-asyncio's shorthand).
        with pytest.raises(TypeError, match="missing 1 required positional argument"):
            await aiotrio.aio_as_trio(aio_double)
        assert await aiotrio.aio_as_trio(functools.partial(aio_double, 4)) == 8

    aiotrio.run(trio_side)

    async def aio_side() -> None:
        with pytest.raises(TypeError, match="not a context manager"):
            async with aiotrio.trio_as_aio(trio_triple):
                pass

    run_aio(aio_side)


def test_leaving_async_for_early_leaves_nothing_to_finalise() -> None:

    closed: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                await asyncio.sleep(0)
                yield i
        finally:
            closed.append("asyncio generator closed")

    async def main() -> None:
        async with aiotrio.open_loop():
            async for n in aiotrio.aio_as_trio(numbers()):
                if n == 2:
                    break
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                gc.collect()  # the abandoned generator is the loop's to close
            with trio.fail_after(20):
                await trio.testing.wait_all_tasks_blocked()  # the loop has closed it by now
            assert closed == ["asyncio generator closed"]
            iterator = aiotrio.aio_as_trio(numbers()).__aiter__()
            assert await iterator.__anext__() == 0
            await iterator.aclose()  # type: ignore[attr-defined]
            assert closed == ["asyncio generator closed"] * 2

    trio.run(main)


def test_get_event_loop_from_trio_code_is_the_open_loop() -> None:
    """Libraries that bind to asyncio.get_event_loop() at construction (asyncpg's
    pool does) can be built in Trio code and used through aio_as_trio."""

    class BindsAtConstruction:
        def __init__(self) -> None:
            self.loop = asyncio.get_event_loop()

        async def work(self) -> bool:
            return asyncio.get_running_loop() is self.loop

    async def main() -> None:
        async with aiotrio.open_loop() as outer:
            assert asyncio.get_event_loop() is outer
            async with aiotrio.open_loop() as inner:
                thing = BindsAtConstruction()
                assert thing.loop is inner
                assert await aiotrio.aio_as_trio(thing.work)()
            assert asyncio.get_event_loop() is outer

    get_policy = getattr(asyncio.events, "_get_event_loop_policy", None)
    policy: Any = get_policy() if get_policy else asyncio.get_event_loop_policy()
    before = dict(vars(policy._local))  # 3.14 dropped the "_set_called" flag
    trio.run(main)
    # Nothing is left behind: the thread's loop state is as it was.
    assert dict(vars(policy._local)) == before


class _AwaitableObject:
    """An awaitable that is neither a coroutine nor a future."""

    def __await__(self) -> Any:
        return aio_double(5).__await__()


def test_wrappers_as_methods_of_a_class_and_other_awaitables() -> None:
    class Service:
        @aiotrio.aio_as_trio
        async def aio_method(self, x: int) -> int:
            await asyncio.sleep(0)
            return x

        @aiotrio.trio_as_aio
        async def trio_method(self, x: int) -> int:
            await trio.lowlevel.checkpoint()
            return x

    # Looked up on the class, a wrapper is itself (as a function would be unbound).
    assert type(Service.aio_method) is type(aiotrio.aio_as_trio(aio_double))
    assert type(Service.trio_method) is type(aiotrio.trio_as_aio(trio_triple))

    async def aio_side(service: Service) -> int:
        loop = asyncio.get_running_loop()
        explicit = aiotrio.trio_as_aio(trio_triple, loop=loop)  # type: ignore[arg-type]
        return await service.trio_method(1) + await explicit(2)

    async def main() -> list[int]:
        service = Service()
        return [
            await service.aio_method(3),
            await aiotrio.aio_as_trio(_AwaitableObject()),
            await aiotrio.run_asyncio(aio_side, service),
        ]

    assert aiotrio.run(main) == [3, 10, 7]


def test_a_context_manager_wrapper_is_entered_once_at_a_time(
    run_aio: Callable[..., Any],
) -> None:
    async def trio_side() -> None:
        wrapper = aiotrio.aio_as_trio(contextlib.nullcontext())
        with pytest.raises(RuntimeError, match="was not entered"):
            await wrapper.__aexit__(None, None, None)
        async with wrapper:
            with pytest.raises(RuntimeError, match="already entered"):
                await wrapper.__aenter__()
        async with wrapper:  # once left, it can be entered again
            pass

    aiotrio.run(trio_side)

    async def aio_side() -> None:
        wrapper = aiotrio.trio_as_aio(trio.CancelScope())
        with pytest.raises(RuntimeError, match="was not entered"):
            await wrapper.__aexit__(None, None, None)
        async with wrapper:
            with pytest.raises(RuntimeError, match="already entered"):
                await wrapper.__aenter__()
        with pytest.raises(TypeError, match="not an async iterable"):
            aiotrio.trio_as_aio(trio_triple).__aiter__()

    run_aio(aio_side)


def test_closing_iterators_early_closes_the_other_side(run_aio: Callable[..., Any]) -> None:
    closed: list[str] = []

    async def trio_numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                await trio.lowlevel.checkpoint()
                yield i
        finally:
            closed.append("trio generator closed")

    class NoAclose:
        """An async iterator without aclose(): closing it early is a no-op."""

        def __aiter__(self) -> NoAclose:
            return self

        async def __anext__(self) -> int:
            return 1

    async def aio_side() -> list[int]:
        iterator = aiotrio.trio_as_aio(trio_numbers()).__aiter__()
        first = [await iterator.__anext__(), await iterator.__anext__()]
        await iterator.aclose()  # type: ignore[attr-defined]
        no_aclose = aiotrio.trio_as_aio(NoAclose()).__aiter__()
        first.append(await no_aclose.__anext__())
        await no_aclose.aclose()  # type: ignore[attr-defined]
        return first

    assert run_aio(aio_side) == [0, 1, 1]
    assert closed == ["trio generator closed"]

    async def trio_side() -> int:
        iterator = aiotrio.aio_as_trio(NoAclose()).__aiter__()
        value: int = await iterator.__anext__()
        await iterator.aclose()  # type: ignore[attr-defined]
        return value

    assert aiotrio.run(trio_side) == 1


def test_errors_of_the_body_and_of_the_trio_manager_both_arrive(
    run_aio: Callable[..., Any],
) -> None:
    """A body error the manager does not swallow comes back as itself; with another error
    from the manager's own tasks, both arrive in the manager's exception group."""

    async def failing_child() -> None:
        raise KeyError("child")

    async def main() -> tuple[str, list[str]]:
        try:
            async with aiotrio.trio_as_aio(trio.open_nursery()):
                raise ValueError("body")
        except ValueError as exc:
            alone = repr(exc)
        try:
            async with aiotrio.trio_as_aio(trio.open_nursery()) as nursery:
                nursery.start_soon(failing_child)
                await asyncio.sleep(0)
                raise ValueError("body")
        except ExceptionGroup as group:
            both = sorted(repr(exc) for exc in group.exceptions)
        return alone, both

    assert run_aio(main) == ("ValueError('body')", ["KeyError('child')", "ValueError('body')"])


def test_cancelled_while_entering_an_asyncio_context_manager() -> None:
    """Trio cancels while the asyncio task is still in ``__aenter__``: the manager's entry
    is cancelled the asyncio way, and the Trio side sees its own cancellation."""
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def slow_to_enter() -> AsyncIterator[None]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("entry cancelled")
            raise
        yield  # pragma: no cover - never entered

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def enter() -> None:
                    async with aiotrio.aio_as_trio(slow_to_enter()):
                        events.append("body ran")

                nursery.start_soon(enter)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
        assert scope.cancelled_caught

    aiotrio.run(main)
    assert events == ["entry cancelled"]
