"""The context variable naming the aiotrio loop Trio code talks to (see `_current`).

On its own so that the low layers that set it (the bridges) need not import
the loop class.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._loop import EventLoop

#: Set by open_loop() for its block, and in every Trio task run_trio() starts.
current_loop_var: ContextVar[EventLoop | None] = ContextVar("aiotrio_current_loop", default=None)
