"""Finding the handle an interrupt left popped from the ready queue but never run.

The driver's loops take a handle off ``loop._ready`` and then call its
``_run``. Trio's SIGINT handler can raise KeyboardInterrupt right after the
``popleft()`` call returns (the interpreter checks for signals after calls into
C), before ``_run`` is entered: the handle is then in neither place, and the
task it would have stepped never resumes. So the loops first read the head
into their ``handle`` local and only then pop it; the traceback tells whether
the frame stopped inside that window, and the frame still holds the handle.
(An interrupt inside ``Handle._run`` itself is `handle_not_started`'s case.)
"""

from __future__ import annotations

import dis
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import asyncio
    import types
    from collections.abc import Callable


def _call_after(instructions: list[dis.Instruction], name: str) -> int:
    """The offset of the first call after the one load of `name`."""
    loads = [i for i, ins in enumerate(instructions) if ins.argval == name and "LOAD" in ins.opname]
    if len(loads) != 1:  # pragma: no cover - the driver's loops were changed
        raise AssertionError(f"expected one load of {name!r}, found {len(loads)}")
    for ins in instructions[loads[0] :]:
        # 3.11 calls a C function in its PRECALL instruction (specialised),
        # and checks for signals there.
        if ins.opname.startswith(("PRECALL", "CALL")):
            return ins.offset
    raise AssertionError(f"no call after {name!r}")  # pragma: no cover


class PopWindows:
    """Where each driver loop has popped a handle (``ready.popleft()``) but not yet run it."""

    def __init__(self, *loops: Callable[..., Any]) -> None:
        self._windows: dict[types.CodeType, tuple[int, int]] = {}
        for fn in loops:
            instructions = list(dis.get_instructions(fn))
            popped_at = _call_after(instructions, "popleft")
            runs_at = _call_after(instructions, "_run")
            if not popped_at < runs_at:  # pragma: no cover - the driver's loops were changed
                raise AssertionError(f"{fn.__qualname__}: _run is called before popleft")
            self._windows[fn.__code__] = (popped_at, runs_at)

    def popped_not_run(self, exc: BaseException) -> asyncio.Handle | None:
        """The handle `exc` interrupted between its ``popleft()`` and its ``_run()``, if any."""
        tb = exc.__traceback__
        while tb is not None:
            window = self._windows.get(tb.tb_frame.f_code)
            if window is not None and window[0] <= tb.tb_lasti < window[1]:
                return cast("asyncio.Handle | None", tb.tb_frame.f_locals.get("handle"))
            tb = tb.tb_next
        return None
