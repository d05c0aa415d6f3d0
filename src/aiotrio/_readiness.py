"""How the driver learns that file descriptors are ready: the backend interface.

asyncio's selector machinery (``BaseSelectorEventLoop``) registers fds with a
``selectors.BaseSelector`` and harvests readiness with ``select(0)``. A
readiness backend supplies that selector plus one Trio-level wait that returns
once a ``select(0)`` is worth doing. Two backends implement it:

- ``"selector"`` (the fast path, `SelectorReadiness`): a private epoll/kqueue
  selector whose own fd Trio watches; one Trio wake-up per batch of fds.
- ``"trio"`` (the portable path, `TrioWaitReadiness`): one Trio wait per
  registered fd, as Windows would need.

The ``AIOTRIO_READINESS`` environment variable picks the default.
"""

from __future__ import annotations

import os
import selectors
from typing import TYPE_CHECKING, Protocol

import trio

from ._kernel_timer import KernelTimer, make_kernel_timer
from ._trio_readiness import TrioWaitReadiness

if TYPE_CHECKING:
    from ._trio_readiness import BatchRunner

READINESS_ENV = "AIOTRIO_READINESS"


class Readiness(Protocol):
    """The contract between the driver and a readiness backend.

    - `selector` is the loop's selector; the driver only ever calls
      ``selector.select(0)`` on it, never a blocking select.
    - `attach` is called when the loop starts running inside a Trio run, with
      a nursery for any helper tasks, and `detach` when it stops; both may be
      called many times over the loop's life.
    - `wait` is awaited by the driver task when it has nothing to do; it
      returns once a ``select(0)`` may report something (it may also return
      early), and it is cancellable.
    - `offer_batches` is called once by the driver with its
      `Driver.batch_while_parked`: a backend whose waits run in Trio tasks of
      their own may call it from such a task while the driver is parked in
      `wait`, and must then reschedule the driver with the outcome it returns
      (if it returns one). A backend that has the driver wait itself ignores
      it.
    """

    name: str

    @property
    def selector(self) -> selectors.BaseSelector: ...

    def attach(self, nursery: trio.Nursery) -> None: ...

    def detach(self) -> None: ...

    async def wait(self) -> None: ...

    def offer_batches(self, run_batch: BatchRunner) -> None: ...


def _pollable_selector() -> selectors.BaseSelector | None:
    """A selector whose own fd becomes readable when any registered fd is ready."""
    for name in ("EpollSelector", "KqueueSelector", "DevpollSelector"):
        cls: type[selectors.BaseSelector] | None = getattr(selectors, name, None)
        if cls is not None:
            return cls()
    return None


class SelectorReadiness:
    """The fast path: Trio waits on the private selector's own fd.

    However many fds the loop watches, an idle driver costs Trio one
    registration, and a busy one costs nothing: the driver's ``select(0)`` at
    the start of each iteration finds ready fds without involving Trio.

    While attached (on Linux), `kernel_timer` is a timer in the selector that
    the driver can set to its next asyncio timer, so that a timer wake-up is
    an I/O wake-up of `wait` (see `aiotrio._kernel_timer`); None elsewhere.
    """

    name = "selector"

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.selector = selector
        # epoll, kqueue and devpoll selectors all have fileno().
        self._fd: int = selector.fileno()  # type: ignore[attr-defined]
        self.kernel_timer: KernelTimer | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        if self.kernel_timer is None:
            self.kernel_timer = make_kernel_timer(self.selector)

    def detach(self) -> None:
        timer, self.kernel_timer = self.kernel_timer, None
        if timer is not None:
            timer.close()

    async def wait(self) -> None:
        await trio.lowlevel.wait_readable(self._fd)

    def offer_batches(self, run_batch: BatchRunner) -> None:
        pass  # the driver waits itself: one task step per wake-up already


def make_readiness(name: str | None = None) -> Readiness:
    """Build the backend called `name`, or the environment's/platform's default."""
    if name is None:
        name = os.environ.get(READINESS_ENV) or "selector"
    if name == "selector":
        selector = _pollable_selector()
        if selector is not None:
            return SelectorReadiness(selector)
        name = "trio"
    if name == "trio":
        return TrioWaitReadiness()
    raise ValueError(f"unknown readiness backend {name!r}: expected 'selector' or 'trio'")
