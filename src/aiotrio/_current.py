"""Which aiotrio loop the code running now talks to."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ._asyncio_internals import event_loop_policy, get_running_loop_or_none, policy_thread_state
from ._loop import EventLoop
from ._loop_var import current_loop_var

if TYPE_CHECKING:
    from collections.abc import Callable


def current_loop() -> EventLoop:
    """The aiotrio loop of the calling code.

    :flavour: either

    From Trio code: the loop of the innermost ``open_loop()`` block (or, in a
    Trio task started by ``run_trio``, the loop that started it). From asyncio
    code: the running loop, if it is an aiotrio loop.

    Raises:
        RuntimeError: if there is no such loop.
    """
    loop = current_loop_var.get()
    if loop is not None:
        return loop
    running = get_running_loop_or_none()
    if isinstance(running, EventLoop):
        return running
    raise RuntimeError(
        "no aiotrio loop here: use `async with aiotrio.open_loop()` "
        "(or aiotrio.run()) around this code"
    )


def loop_for_trio_code(api: str) -> asyncio.AbstractEventLoop:
    """The asyncio loop Trio code calling `api` bridges to.

    The loop of the innermost ``open_loop()`` block (or of the ``run_trio``
    call that started the task), else the host loop of the Trio guest run
    the code belongs to.
    """
    loop = current_loop_var.get()
    if loop is not None:
        return loop
    from ._guest import current_guest  # noqa: PLC0415 (_guest imports the bridges)

    guest = current_guest()
    if guest is not None:
        return guest.loop
    running = get_running_loop_or_none()
    if isinstance(running, EventLoop):
        return running
    raise RuntimeError(
        f"{api} needs an asyncio loop to run on: call it inside "
        "`async with aiotrio.open_loop()` (or aiotrio.run()), or from Trio code "
        "that aiotrio.run_trio() started from asyncio code"
    )


def running_loop_for(api: str) -> asyncio.AbstractEventLoop:
    """The running asyncio loop, which asyncio code calling `api` needs."""
    loop = get_running_loop_or_none()
    if loop is None:
        raise RuntimeError(
            f"{api} must be called from asyncio code, with a running asyncio "
            "event loop (from Trio code, await the Trio function directly)"
        )
    return loop


def make_current_event_loop(loop: EventLoop) -> Callable[[], None]:
    """Make `loop` the thread's current event loop; return how to undo it.

    Inside ``open_loop()``, code running in Trio tasks that calls
    ``asyncio.get_event_loop()`` (asyncpg builds its pool objects that way)
    must get the open loop, as it would inside asyncio. The undo restores
    exactly what was there before (the policy's private "was set" flag too,
    so nothing changes after the block), unless another loop has replaced
    ours meanwhile (side-by-side blocks: the newest one stays current).
    """
    local = policy_thread_state(event_loop_policy())
    previous = getattr(local, "_loop", None)
    previous_set_called = getattr(local, "_set_called", None)
    asyncio.set_event_loop(loop)

    def undo() -> None:
        if local is None or getattr(local, "_loop", None) is not loop:
            return
        if previous is not None and previous.is_closed():
            asyncio.set_event_loop(None)
            return
        local._loop = previous
        if previous_set_called is not None:
            local._set_called = previous_set_called

    return undo
