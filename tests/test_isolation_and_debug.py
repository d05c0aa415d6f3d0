"""Importing aiotrio changes nothing global; debug mode reports as asyncio does."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Callable


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_import_is_warning_free() -> None:
    result = _python("import aiotrio")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_import_installs_no_policy_and_leaves_asyncio_run_stock() -> None:
    result = _python(
        """
        import asyncio, sys
        policy_before = type(asyncio.events._event_loop_policy)
        run_before = asyncio.run
        import aiotrio
        assert type(asyncio.events._event_loop_policy) is policy_before
        assert asyncio.run is run_before
        async def which():
            return type(asyncio.get_running_loop()).__module__
        print(asyncio.run(which()))
        loop = asyncio.new_event_loop()
        print(type(loop).__module__)
        loop.close()
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["asyncio.unix_events", "asyncio.unix_events"]


def test_slow_callbacks_are_reported_in_debug_mode(
    run_aio: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.01
        loop.call_soon(time.sleep, 0.03)
        await asyncio.sleep(0.05)
        loop.set_debug(False)

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        run_aio(main)
    slow = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Executing")]
    # The sleeping callback is reported; on a loaded machine others may be too.
    assert [m for m in slow if "sleep(0.03)" in m and "took" in m]


@pytest.mark.parametrize("how", ["open_loop", "loop_factory"])
def test_pythonasynciodebug_reports_never_awaited_coroutines_with_origin(how: str) -> None:
    runner = (
        "aiotrio.run(aiotrio.run_asyncio, main)"
        if how == "open_loop"
        else "asyncio.Runner(loop_factory=aiotrio.new_event_loop).run(main())"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import asyncio, gc, aiotrio
                async def forgotten():
                    pass
                async def main():
                    assert asyncio.get_running_loop().get_debug()
                    forgotten()
                    gc.collect()
                {runner}
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONASYNCIODEBUG": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "coroutine 'forgotten' was never awaited" in result.stderr
    assert "Coroutine created at" in result.stderr


def test_debug_mode_rejects_coroutines_as_callbacks(run_aio: Callable[..., Any]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        try:
            with pytest.raises(TypeError, match="coroutines cannot be used"):
                loop.call_soon(main)
        finally:
            loop.set_debug(False)

    run_aio(main)


def test_debug_mode_rejects_call_soon_from_another_thread(run_aio: Callable[..., Any]) -> None:

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        errors: list[str] = []

        def elsewhere() -> None:
            try:
                loop.call_soon(print)
            except RuntimeError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        loop.set_debug(False)
        return errors[0]

    assert "Non-thread-safe operation" in run_aio(main)


def test_loop_is_usable_as_a_loop_factory_on_this_python() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__name__

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        assert runner.run(main()) == "EventLoop"
    if sys.version_info >= (3, 12):
        assert asyncio.run(main(), loop_factory=aiotrio.new_event_loop) == "EventLoop"  # type: ignore[call-arg]
