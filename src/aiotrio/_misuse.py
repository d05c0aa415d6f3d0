"""Refusing calls made from the wrong side, with a message that names the right call.

Trio-flavored functions (`run_asyncio`, `aio_as_trio`, `open_loop`) awaited
from an asyncio task would hand Trio's yields to asyncio ("Task got bad
yield"), which corrupts both; asyncio functions given to `run_trio` do the
reverse. These checks run before anything is scheduled, so the loop keeps
working after the error.
"""

from __future__ import annotations

import asyncio
from typing import Any

_events = asyncio.events
_current_task = asyncio.current_task


def refuse_asyncio_caller(api: str, instead: str) -> None:
    """Raise RuntimeError if the caller is an asyncio task (not Trio code).

    Trio code never runs inside a driver batch, so an asyncio task being
    current means `api` was awaited from asyncio code.
    """
    running = _events._get_running_loop()
    if running is not None and _current_task(running) is not None:
        raise RuntimeError(f"{api} is Trio-flavored and was awaited from asyncio code; {instead}")


def _library(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or ""
    if not module:
        module = getattr(getattr(fn, "__func__", None), "__module__", None) or ""
    return module.partition(".")[0]


def refuse_trio_function(api: str, fn: Any) -> None:
    """Raise TypeError if `fn` is one of Trio's own async functions."""
    if _library(fn) == "trio":
        raise TypeError(
            f"{api} runs asyncio code, but {fn!r} is a Trio function: await it "
            "directly from Trio code, or use `await aiotrio.run_trio(fn, *args)` "
            "from asyncio code"
        )


def refuse_asyncio_function(api: str, fn: Any) -> None:
    """Raise TypeError if `fn` is one of asyncio's own async functions."""
    if _library(fn) == "asyncio":
        raise TypeError(
            f"{api} runs Trio code, but {fn!r} is an asyncio function: await it "
            "directly from asyncio code, or use `await aiotrio.run_asyncio(fn, *args)` "
            "from Trio code"
        )
