"""aiotrio: an asyncio event loop hosted on Trio.

Trio programs use asyncio libraries through it, asyncio and Trio code call
each other with real cancellation, and unmodified asyncio programs run on Trio
with ``asyncio.run(main(), loop_factory=aiotrio.new_event_loop)``.

Importing aiotrio changes nothing global: no event loop policy is installed and
asyncio is not patched.
"""

from ._adapters import (
    aio_as_trio,
    asyncio_as_trio,
    trio_as_aio,
    trio_as_asyncio,
)
from ._bridge import run_asyncio, run_trio
from ._current import current_loop
from ._guest import stop_guest
from ._loop import EventLoop
from ._open_loop import new_event_loop, open_loop, run
from ._task_tree import (
    AsyncioTaskInfo,
    Bridge,
    Frame,
    LoopInfo,
    NurseryInfo,
    TaskTree,
    TrioTaskInfo,
    format_task_tree,
    task_tree,
)
from ._version import __version__

__all__ = [
    "AsyncioTaskInfo",
    "Bridge",
    "EventLoop",
    "Frame",
    "LoopInfo",
    "NurseryInfo",
    "TaskTree",
    "TrioTaskInfo",
    "__version__",
    "aio_as_trio",
    "asyncio_as_trio",
    "current_loop",
    "format_task_tree",
    "new_event_loop",
    "open_loop",
    "run",
    "run_asyncio",
    "run_trio",
    "stop_guest",
    "task_tree",
    "trio_as_aio",
    "trio_as_asyncio",
]

# Public objects say they live in "aiotrio", not in its private modules.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("aiotrio."):
        _obj.__module__ = "aiotrio"
del _name, _obj  # pyright: ignore[reportPossiblyUnboundVariable] (__all__ is not empty)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext aiotrio``: see docs/how-to/ipython.md (IPython is imported only here)."""
    from ._ipython import load  # noqa: PLC0415

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext aiotrio``."""
    from ._ipython import unload  # noqa: PLC0415

    unload(ipython)
