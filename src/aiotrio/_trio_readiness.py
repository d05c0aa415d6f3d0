"""The portable readiness backend: Trio's own per-fd waits.

Every registered fd gets one watcher task per direction for as long as it is
registered (not one per event). A watcher waits with
``trio.lowlevel.wait_readable``/``wait_writable`` and reports the fd ready.
While the driver is parked, the watcher Trio woke runs the driver's batch
itself (`Driver.batch_while_parked`: the batch is synchronous), then waits
again: one Trio task step per event, as the selector backend's parked driver
pays. While the driver is busy, the watcher leaves the report for the
driver's next ``select(0)`` and stays parked until that harvest has run the
callbacks. Either way a watcher waits again only after the callbacks of its
report ran: asyncio's level-triggered semantics without spinning. This is what
a platform without a pollable selector (Windows) needs; on Unix it is the
reference the fast path is tested against.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import stat
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TypeAlias

    import outcome

    #: `Driver.batch_while_parked` (see `Readiness.offer_batches`).
    BatchRunner: TypeAlias = Callable[[], outcome.Outcome[None] | bool]

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_DIRECTIONS = (EVENT_READ, EVENT_WRITE)


def _check_pollable(fd: int) -> None:
    """Raise what epoll would for an fd that cannot be watched: closed or a file."""
    mode = os.fstat(fd).st_mode  # OSError(EBADF) for a closed fd
    if sys.platform.startswith("linux") and (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))


def _masks(revents: int) -> int:
    """The selectors mask for poll() `revents` (errors and hang-ups wake both sides)."""
    mask = 0
    if revents & (select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL):
        mask |= EVENT_READ
    if revents & (select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL):
        mask |= EVENT_WRITE
    return mask


def _poll_now(keys: list[selectors.SelectorKey]) -> dict[int, int]:
    """Which of `keys` are ready right now (a zero-timeout poll)."""
    ready: dict[int, int] = {}
    if hasattr(select, "poll"):
        poller = select.poll()
        for key in keys:
            wanted = (select.POLLIN if key.events & EVENT_READ else 0) | (
                select.POLLOUT if key.events & EVENT_WRITE else 0
            )
            poller.register(key.fd, wanted)
        for fd, revents in poller.poll(0):
            ready[fd] = _masks(revents)
        return ready
    readers = [key.fd for key in keys if key.events & EVENT_READ]
    writers = [key.fd for key in keys if key.events & EVENT_WRITE]
    readable, writable, _ = select.select(readers, writers, [], 0)
    for fd in readable:
        ready[fd] = ready.get(fd, 0) | EVENT_READ
    for fd in writable:
        ready[fd] = ready.get(fd, 0) | EVENT_WRITE
    return ready


# How many recently active fds every select(0) polls directly, at most (see
# _HotFds). Polling costs about 45 ns per fd (256 idle fds: 12 us), a fd left to
# its watcher a Trio task step per event: a hundred busy connections need more
# than 32 (which cost 2.4x the selector backend on benchmark 14's 100 clients).
_HOT_MAX = 256

# A hot fd with no event in this many polls goes back to its watchers, so that
# idle fds do not make every poll slower while the driver stays busy.
_HOT_IDLE_POLLS = 64

# Checkpoints a watcher that ran the parked driver's batch takes before it
# waits again, as the driver's own _SPINS_BEFORE_PARKING.
_SPINS = 2


class _HotFds:
    """The fds that had events lately, which every ``select(0)`` polls itself.

    A loop that talks to itself or to a quick peer (a reply on loopback) finds
    its next events with one zero-timeout poll of these, inside the batch,
    where waiting for Trio to wake their watchers would cost a Trio round each:
    what the selector backend's ``select(0)`` gets from epoll. A hot fd's
    watchers stay parked (`TrioWaitSelector._hand_back` returns the fd to
    them); at most `_HOT_MAX` fds, oldest out first, and none idle for
    `_HOT_IDLE_POLLS` polls (`idle`).
    """

    def __init__(self) -> None:
        self.events: dict[int, int] = {}
        #: Polls made so far.
        self.polls = 0
        # fd -> the poll count when it was last ready (or added).
        self._last_ready: dict[int, int] = {}
        self._poller = select.poll() if hasattr(select, "poll") else None

    def add(self, fd: int, events: int) -> None:
        """Poll `fd` for `events` (its registered events) from now on."""
        self._last_ready[fd] = self.polls
        if self.events.get(fd) == events:
            return
        self.events[fd] = events
        if self._poller is not None:
            wanted = (select.POLLIN if events & EVENT_READ else 0) | (
                select.POLLOUT if events & EVENT_WRITE else 0
            )
            self._poller.register(fd, wanted)

    def discard(self, fd: int) -> None:
        self._last_ready.pop(fd, None)
        if self.events.pop(fd, None) is not None and self._poller is not None:
            self._poller.unregister(fd)

    def idle(self) -> list[int]:
        """The hot fds that have not been ready in the last `_HOT_IDLE_POLLS` polls."""
        since = self.polls - _HOT_IDLE_POLLS
        return [fd for fd, last in self._last_ready.items() if last <= since]

    def poll(self) -> tuple[dict[int, int], list[int]]:
        """fd -> ready mask for the hot fds ready now, and the closed ones."""
        ready: dict[int, int] = {}
        self.polls = polls = self.polls + 1
        last_ready = self._last_ready
        if self._poller is not None:
            closed: list[int] = []
            for fd, revents in self._poller.poll(0):
                ready[fd] = _masks(revents)
                last_ready[fd] = polls
                if revents & select.POLLNVAL:
                    closed.append(fd)
            return ready, closed
        events = self.events
        readers = [fd for fd, mask in events.items() if mask & EVENT_READ]
        writers = [fd for fd, mask in events.items() if mask & EVENT_WRITE]
        try:
            readable, writable, _ = select.select(readers, writers, [], 0)
        except OSError:
            # A closed fd (select() has no POLLNVAL): the watchers find which.
            return ready, list(events)
        for fd in readable:
            ready[fd] = EVENT_READ
        for fd in writable:
            ready[fd] = ready.get(fd, 0) | EVENT_WRITE
        for fd in ready:
            last_ready[fd] = polls
        return ready, []


def _fileobj_to_fd(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _KeyMap(Mapping[Any, selectors.SelectorKey]):
    """Read-only view of the registrations, keyed by file object, as selectors do."""

    def __init__(self, selector: TrioWaitSelector) -> None:
        self._selector = selector

    def __len__(self) -> int:
        return len(self._selector._keys)

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        fd = self._selector._lookup(fileobj)
        try:
            return self._selector._keys[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._selector._keys)


class TrioWaitSelector(selectors.BaseSelector):
    """A selector whose readiness reports come from Trio watcher tasks.

    Registration bookkeeping follows ``selectors``' contract exactly (same
    exceptions for bad or duplicate fds). Watchers run only while the selector
    is attached to a Trio nursery; registrations made while detached are
    watched from the next `attach`.
    """

    def __init__(self) -> None:
        self._keys: dict[int, selectors.SelectorKey] = {}
        self._map = _KeyMap(self)
        self._reported: dict[int, int] = {}
        self._hot = _HotFds()
        self._watchers: dict[tuple[int, int], trio.CancelScope] = {}
        self._parked: dict[tuple[int, int], trio.lowlevel.Task] = {}
        self._nursery: trio.Nursery | None = None
        self._waiting_driver: trio.lowlevel.Task | None = None
        self._run_batch: BatchRunner | None = None
        # Watchers running batches for the parked driver (`_serve_parked`).
        self._spinning = 0

    # -- selectors.BaseSelector -------------------------------------------------

    def _lookup(self, fileobj: Any) -> int:
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            # A closed socket reports fileno() == -1: find it by identity.
            for key in self._keys.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._lookup(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        _check_pollable(fd)
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        self._sync_watchers(fd)
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = self._lookup(fileobj)
        try:
            key = self._keys.pop(fd)
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        self._reported.pop(fd, None)
        self._sync_watchers(fd)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._lookup(fileobj)
        try:
            old = self._keys[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        key = old._replace(events=events, data=data)
        self._keys[fd] = key
        if events != old.events:
            self._sync_watchers(fd)
        return key

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """What the hot fds show now, after the watchers' reports; never blocks.

        A reported fd joins the hot fds, and the same poll checks it: an
        event that an earlier ``select(0)`` found and handled first is not
        reported twice.
        """
        hot = self._hot
        reported = self._reported
        if not hot.events and not reported:
            return []
        keys = self._keys
        if reported:
            self._reported = {}
            for fd in reported:
                key = keys.get(fd)
                if key is not None:
                    hot.add(fd, key.events)
        ready: list[tuple[selectors.SelectorKey, int]] = []
        found, closed = hot.poll()
        for fd, mask in found.items():
            key = keys.get(fd)
            if key is not None and mask & key.events:
                ready.append((key, mask & key.events))
        for fd in closed:
            # Closed while registered: reported this once; its watchers meet
            # the error (or the fd number's next owner).
            self._hand_back(fd)
        while len(hot.events) > _HOT_MAX:
            self._hand_back(next(iter(hot.events)))  # the oldest
        if hot.polls % _HOT_IDLE_POLLS == 0:
            for fd in hot.idle():
                self._hand_back(fd)
        return ready

    def close(self) -> None:
        self._keys.clear()
        self._reported.clear()
        self._cancel_all_watchers()
        self._hand_back_all()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._map

    # -- Trio side ----------------------------------------------------------------

    def attach(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        for fd in list(self._keys):
            self._sync_watchers(fd)

    def detach(self) -> None:
        self._cancel_all_watchers()
        self._reported.clear()
        self._hand_back_all()
        self._nursery = None
        self._waiting_driver = None

    async def wait(self) -> None:
        if self._reported:
            await trio.lowlevel.checkpoint()
            return
        if not self._spinning:
            # Nobody polls the hot fds while the driver is parked.
            self._hand_back_all()
        self._waiting_driver = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._waiting_driver = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _sync_watchers(self, fd: int) -> None:
        """Make the running watchers for `fd` match its registered events."""
        key = self._keys.get(fd)
        wanted = key.events if key is not None else 0
        if key is None:
            self._hot.discard(fd)
        elif fd in self._hot.events:
            self._hot.add(fd, wanted)
        started = 0
        for direction in _DIRECTIONS:
            slot = (fd, direction)
            running = slot in self._watchers
            if wanted & direction and not running and self._nursery is not None:
                scope = trio.CancelScope()
                self._watchers[slot] = scope
                self._nursery.start_soon(self._watch, fd, direction, scope)
                started |= direction
            elif not wanted & direction and running:
                self._watchers.pop(slot).cancel()
                self._parked.pop(slot, None)
        if started and key is not None:
            # A new watcher reports only once Trio has run it, but an fd that
            # is ready already must show up in the next select(0), as with
            # epoll: a hosted run can be a single batch, and asyncio re-registers
            # fds (pause/resume_reading) expecting nothing to be missed.
            mask = _poll_now([key._replace(events=started)]).get(fd, 0)
            if mask:
                self._reported[fd] = self._reported.get(fd, 0) | mask

    def _cancel_all_watchers(self) -> None:
        for scope in self._watchers.values():
            scope.cancel()
        self._watchers.clear()
        self._parked.clear()

    def _hand_back(self, fd: int) -> None:
        """`fd` stops being hot: its parked watchers wait in Trio again."""
        self._hot.discard(fd)
        for direction in _DIRECTIONS:
            task = self._parked.pop((fd, direction), None)
            if task is not None:
                trio.lowlevel.reschedule(task)

    def _hand_back_all(self) -> None:
        for fd in list(self._hot.events):
            self._hand_back(fd)

    def _report(self, fd: int, direction: int) -> None:
        self._reported[fd] = self._reported.get(fd, 0) | direction
        driver = self._waiting_driver
        if driver is not None:
            self._waiting_driver = None
            trio.lowlevel.reschedule(driver)

    def _run_parked_batch(self, run_batch: BatchRunner, driver: trio.lowlevel.Task) -> bool:
        """Run the parked driver's batch here; wake the driver if it asks to.

        Returns whether to spin: the driver stays parked and more work may
        follow at once.
        """
        result = run_batch()
        if isinstance(result, bool):
            return result
        if self._waiting_driver is driver:
            self._waiting_driver = None
            trio.lowlevel.reschedule(driver, result)
        else:
            # The driver's wait was cancelled during the batch: raise an
            # exception from the batch here rather than lose it.
            result.unwrap()
        return False

    @trio.lowlevel.enable_ki_protection  # a driver step now (see _driver._driver_step)
    async def _serve_parked(self, run_batch: BatchRunner, driver: trio.lowlevel.Task) -> None:
        """Run batches for the parked driver, spinning as the driver would.

        After a batch that handled I/O, up to `_SPINS` checkpoints follow,
        each with a batch that polls the hot fds, while the driver stays
        parked: a quick peer's answer (or the loop's own) is found there
        without a Trio wake-up. The last spinner to stop hands the hot fds
        back to their watchers if the driver is still parked.
        """
        self._spinning += 1
        try:
            spins = _SPINS
            while True:
                if self._run_parked_batch(run_batch, driver):
                    spins = _SPINS
                elif spins:
                    spins -= 1
                else:
                    return
                if self._waiting_driver is not driver:
                    return  # awake: the driver takes over the hot fds
                await trio.lowlevel.checkpoint()
                if self._waiting_driver is not driver:
                    return
        finally:
            self._spinning -= 1
            if not self._spinning and self._waiting_driver is not None:
                self._hand_back_all()

    @trio.lowlevel.enable_ki_protection  # its bookkeeping must not be cut short
    async def _watch(self, fd: int, direction: int, scope: trio.CancelScope) -> None:
        wait_ready = (
            trio.lowlevel.wait_readable if direction == EVENT_READ else trio.lowlevel.wait_writable
        )
        slot = (fd, direction)
        me = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            if self._parked.get(slot) is me:
                del self._parked[slot]
            return trio.lowlevel.Abort.SUCCEEDED

        with scope:
            while True:
                try:
                    await wait_ready(fd)
                except (OSError, trio.ClosedResourceError, trio.BusyResourceError):
                    # The fd was closed or replaced under us. Report it ready,
                    # as select() would, so its callback meets the error.
                    if scope.cancel_called:
                        return
                    self._report(fd, direction)
                    return
                if scope.cancel_called:
                    return
                driver = self._waiting_driver
                run_batch = self._run_batch
                if driver is not None and run_batch is not None:
                    reported = self._reported
                    reported[fd] = reported.get(fd, 0) | direction
                    await self._serve_parked(run_batch, driver)
                    if scope.cancel_called:
                        return  # unregistered by a callback
                    if fd not in self._hot.events and not self._reported.get(fd, 0) & direction:
                        continue  # handled and handed back: wait in Trio again
                    # Hot (the awake driver polls it) or reported but not
                    # harvested yet: wait for the hand-back.
                else:
                    self._report(fd, direction)
                self._parked[slot] = me
                await trio.lowlevel.wait_task_rescheduled(abort)


class TrioWaitReadiness:
    """The portable readiness backend (see the module docstring)."""

    name = "trio"

    def __init__(self) -> None:
        self.selector = TrioWaitSelector()

    def attach(self, nursery: trio.Nursery) -> None:
        self.selector.attach(nursery)

    def detach(self) -> None:
        self.selector.detach()

    async def wait(self) -> None:
        await self.selector.wait()

    def offer_batches(self, run_batch: BatchRunner) -> None:
        self.selector._run_batch = run_batch
