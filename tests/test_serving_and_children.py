"""Regression tests for the serving and child-process fixes of the issue-11 refactor.

- ``open_loop()`` entered while a cancellation is pending returns at once,
  cancelled (it used to hang: Trio's ``started()`` does not move a task out of
  a ``start()`` whose caller is cancelled, and the driver is shielded).
- ``Process.kill()`` after the child exited but before the loop saw it keeps
  the child's real exit code (3.11/3.12 ``Popen.send_signal`` reaps first).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest
import trio
import trio.testing

import aiotrio

from .conftest import READINESS


async def _hold_loop_open() -> None:
    async with aiotrio.open_loop(readiness=READINESS):
        await trio.sleep_forever()


def test_open_loop_under_move_on_after_zero_returns_cancelled() -> None:
    entered = []

    async def main() -> bool:
        with trio.move_on_after(0) as scope:
            async with aiotrio.open_loop(readiness=READINESS):
                entered.append(True)
        return scope.cancelled_caught

    assert trio.run(main) is True
    assert entered == []


def test_open_loop_entered_while_a_sibling_fails_returns() -> None:
    async def failer() -> None:
        raise ValueError("sibling failed")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(failer)
            nursery.start_soon(_hold_loop_open)

    with pytest.raises(ExceptionGroup) as info:
        trio.run(main)
    assert info.group_contains(ValueError, match="sibling failed")


def test_open_loop_in_a_nursery_cancelled_after_start_soon_returns() -> None:
    async def main() -> bool:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_hold_loop_open)
            nursery.cancel_scope.cancel()
        return nursery.cancel_scope.cancelled_caught

    assert trio.run(main) is True


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid to wait without reaping")
def test_kill_after_the_child_exited_keeps_its_exit_code(run_aio: Any) -> None:
    async def probe() -> int:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import sys; sys.exit(3)")
        # Block the loop until the child has exited, without reaping it.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        proc.kill()  # 3.11/3.12: Popen.send_signal() polls, and so reaps, first
        return await proc.wait()

    assert run_aio(probe) == 3
