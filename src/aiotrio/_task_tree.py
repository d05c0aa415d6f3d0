"""`task_tree()` and `format_task_tree()`: every task of both worlds, in one tree.

The tree is Trio's: the root task, its nurseries, their tasks, and so on. The
Trio task serving an aiotrio loop carries that loop's asyncio tasks, each
with its await chain (``asyncio.capture_call_graph`` on 3.14+, the
coroutines' ``cr_await`` chain before). The bridges between the two worlds
are edges: an asyncio task waiting in ``run_trio`` (or ``trio_as_aio``) on a
Trio task (a loop's bridge worker, named after the call it runs; idle
workers are left out), and a Trio task waiting in ``run_asyncio`` (or ``aio_as_trio``)
on an asyncio task or future. They come from the loops' own registries of
in-flight bridge calls (`aiotrio._bridges.Bridges`).

Both functions only read: they may be called from any task of the run, from
an asyncio callback, or from a signal handler in the run's thread (that is
how a hung program shows where it hangs).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import trio

from ._asyncio_internals import awaited_future
from ._bridges import TrioCallFuture, is_idle_worker
from ._serve import serve

if TYPE_CHECKING:
    import types
    from collections.abc import Iterator

    from ._loop import EventLoop


@dataclass(frozen=True)
class Frame:
    """One frame of an await chain."""

    function: str
    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.function} ({_short_path(self.filename)}:{self.lineno})"


@dataclass
class AsyncioTaskInfo:
    """An asyncio task of an aiotrio loop.

    `stack` is its await chain, outermost first (empty once it is done or
    before its first step). `waits_on` describes the future it is parked on,
    if any; `awaited_by` names the asyncio tasks waiting for it.
    """

    name: str
    task: asyncio.Task[Any] = field(repr=False, compare=False)
    stack: list[Frame]
    waits_on: str | None
    awaited_by: list[str]


@dataclass
class LoopInfo:
    """An aiotrio loop served by a Trio task, and its asyncio tasks."""

    description: str
    loop: EventLoop = field(repr=False, compare=False)
    tasks: list[AsyncioTaskInfo]


@dataclass
class NurseryInfo:
    """A Trio nursery and the tasks running in it."""

    tasks: list[TrioTaskInfo]


@dataclass
class TrioTaskInfo:
    """A Trio task: its await chain (outermost first), its nurseries, and the
    aiotrio loop it serves, if it is a loop's driver task."""

    name: str
    task: trio.lowlevel.Task = field(repr=False, compare=False)
    stack: list[Frame]
    nurseries: list[NurseryInfo]
    loop: LoopInfo | None = None


@dataclass(frozen=True)
class Bridge:
    """A wait across the bridge.

    ``"run_trio"``: the asyncio side waits for `trio_task` (a ``run_trio``
    call); `asyncio_task` is the task awaiting it (None if no task awaits the
    call's future directly). ``"run_asyncio"``: `trio_task` waits for
    `asyncio_future`, which is `asyncio_task` when it is a task.
    """

    kind: Literal["run_trio", "run_asyncio"]
    trio_task: trio.lowlevel.Task
    asyncio_task: asyncio.Task[Any] | None
    asyncio_future: asyncio.Future[Any]


@dataclass
class TaskTree:
    """The whole run: `root` is Trio's root task; `bridges` the waits across."""

    root: TrioTaskInfo
    loops: list[LoopInfo]
    bridges: list[Bridge]

    def trio_tasks(self) -> Iterator[TrioTaskInfo]:
        """Every Trio task of the tree, parents before children."""
        pending = [self.root]
        while pending:
            info = pending.pop()
            yield info
            for nursery in reversed(info.nurseries):
                pending.extend(reversed(nursery.tasks))


def task_tree() -> TaskTree:
    """The current Trio run's tasks, the asyncio tasks of its aiotrio loops, and
    the bridges between them (see the module docstring).

    Call it in the Trio run's thread: from Trio or asyncio code of the run, or
    from a signal handler there.

    Raises:
        RuntimeError: outside a Trio run.
    """
    try:
        root_task = trio.lowlevel.current_root_task()
    except RuntimeError:
        root_task = None
    if root_task is None:
        raise RuntimeError("aiotrio.task_tree() must be called in a Trio run's thread")
    loops: list[LoopInfo] = []
    root = _trio_task_info(root_task, loops, _LiveStack())
    bridges = [bridge for info in loops for bridge in _bridges_of(info.loop)]
    return TaskTree(root, loops, bridges)


class _LiveStack:
    """The calling thread's frames, for the tasks that are running right now.

    A running coroutine has no ``cr_await`` chain to follow: the Trio task
    that runs (the caller's, or the driver when an asyncio task runs) and the
    asyncio task that runs are on the thread's stack instead, under the
    frames of this module (and of a signal handler that called it).
    """

    def __init__(self) -> None:
        frames: list[types.FrameType] = []
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        frames.reverse()
        while frames and frames[-1].f_code.co_filename == __file__:
            frames.pop()
        self.frames = frames
        self._index = {id(frame): index for index, frame in enumerate(frames)}

    def running(self, coro: Any) -> bool:
        frame = getattr(coro, "cr_frame", None)
        return frame is not None and id(frame) in self._index

    def stack(self, coro: Any, until: Any = None) -> list[Frame]:
        """The live frames from `coro`'s on, up to `until`'s frame (excluded) if live."""
        start = self._index[id(coro.cr_frame)]
        end = len(self.frames)
        if until is not None and self.running(until):
            end = self._index[id(until.cr_frame)]
        return [_frame(frame) for frame in self.frames[start:end]]


def _trio_task_info(
    task: trio.lowlevel.Task, loops: list[LoopInfo], live: _LiveStack
) -> TrioTaskInfo:
    loop = _served_loop(task)
    loop_info = None
    running_asyncio = None
    if loop is not None:
        loop_info = LoopInfo(repr(loop), loop, _asyncio_tasks(loop, live))
        loops.append(loop_info)
        current = asyncio.current_task(loop)
        running_asyncio = None if current is None else current.get_coro()
    if live.running(task.coro):
        stack = live.stack(task.coro, until=running_asyncio)
    else:
        stack = _trio_stack(task)
    nurseries = [
        NurseryInfo(
            [
                _trio_task_info(child, loops, live)
                for child in _by_name(nursery.child_tasks)
                if not is_idle_worker(child)
            ]
        )
        for nursery in task.child_nurseries
    ]
    return TrioTaskInfo(task.name, task, stack, nurseries, loop_info)


def _by_name(tasks: Any) -> list[trio.lowlevel.Task]:
    return sorted(tasks, key=lambda task: task.name)


def _served_loop(task: trio.lowlevel.Task) -> EventLoop | None:
    """The loop `task` drives, if its body is `aiotrio._serve.serve`."""
    coro = task.coro
    if getattr(coro, "cr_code", None) is not serve.__code__ or coro.cr_frame is None:
        return None
    loop: EventLoop | None = coro.cr_frame.f_locals.get("loop")
    return loop


def _trio_stack(task: trio.lowlevel.Task) -> list[Frame]:
    return [_frame(frame, lineno) for frame, lineno in task.iter_await_frames()]


def _frame(frame: types.FrameType, lineno: int | None = None) -> Frame:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return Frame(name, code.co_filename, frame.f_lineno if lineno is None else lineno)


def _asyncio_tasks(loop: EventLoop, live: _LiveStack) -> list[AsyncioTaskInfo]:
    tasks = sorted(asyncio.all_tasks(loop), key=lambda task: task.get_name())
    awaited_by: dict[asyncio.Future[Any], list[str]] = {}
    for task in tasks:
        future = awaited_future(task)
        if future is not None:
            awaited_by.setdefault(future, []).append(task.get_name())
    infos: list[AsyncioTaskInfo] = []
    for task in tasks:
        stack, waiters = _asyncio_stack(task)
        if live.running(task.get_coro()):
            stack = live.stack(task.get_coro())
        if waiters is None:
            waiters = awaited_by.get(task, [])
        future = awaited_future(task)
        infos.append(
            AsyncioTaskInfo(
                task.get_name(),
                task,
                stack,
                None if future is None else _describe_future(future),
                sorted(waiters),
            )
        )
    return infos


def _asyncio_stack(task: asyncio.Task[Any]) -> tuple[list[Frame], list[str] | None]:
    """The task's await chain, and (3.14+) the tasks awaiting it, else None."""
    capture = getattr(asyncio, "capture_call_graph", None)
    if capture is not None:
        graph = capture(task)
        if graph is not None:
            # capture_call_graph lists the innermost frame first.
            stack = [_frame(entry.frame) for entry in reversed(graph.call_stack)]
            waiters = [
                waiter.future.get_name()  # pyright: ignore[reportUnknownMemberType] (3.14+ only)
                for waiter in graph.awaited_by
                if isinstance(waiter.future, asyncio.Task)
            ]
            return stack, waiters
    return _coroutine_chain(task.get_coro()), None


def _coroutine_chain(awaitable: Any) -> list[Frame]:
    """Frames of a coroutine and of what it awaits, down to the first non-coroutine."""
    stack: list[Frame] = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        stack.append(_frame(frame))
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return stack


def _describe_future(future: asyncio.Future[Any]) -> str:
    if isinstance(future, asyncio.Task):
        return f"asyncio task {future.get_name()}"
    if isinstance(future, TrioCallFuture):
        task = future.trio_task
        return "run_trio, starting" if task is None else f"run_trio: Trio task {task.name}"
    return type(future).__name__


def _bridges_of(loop: EventLoop) -> list[Bridge]:
    bridges = loop._trio.bridges
    waiting_task = {
        future: task
        for task in asyncio.all_tasks(loop)
        if (future := awaited_future(task)) is not None
    }
    edges: list[Bridge] = []
    for call in bridges.trio_calls():
        if call.trio_task is not None:
            edges.append(Bridge("run_trio", call.trio_task, waiting_task.get(call), call))
    for waiter in bridges.asyncio_waiters():
        future = waiter.future
        task = future if isinstance(future, asyncio.Task) else None
        edges.append(Bridge("run_asyncio", waiter.task, task, future))
    return edges


# -- text -------------------------------------------------------------------------------


def format_task_tree(tree: TaskTree | None = None, *, internal_frames: bool = False) -> str:
    """`task_tree()` (or `tree`) as text: one line per task, nursery and loop,
    each task's await chain under it, and the bridges on the tasks' lines.

    Frames of Trio's core and of aiotrio itself (the scheduler's traps, the
    driver, the bridges' plumbing) are left out unless `internal_frames`.

    For a hung program, this one line prints it on ``kill -USR1 PID``::

        signal.signal(signal.SIGUSR1, lambda *_: print(aiotrio.format_task_tree(), file=sys.stderr))
    """
    if tree is None:
        tree = task_tree()
    waits_for_asyncio: dict[trio.lowlevel.Task, list[str]] = {}
    runs_for: dict[trio.lowlevel.Task, list[str]] = {}
    awaited_by_trio: dict[asyncio.Future[Any], list[str]] = {}
    for bridge in tree.bridges:
        if bridge.kind == "run_trio":
            who = "nobody" if bridge.asyncio_task is None else bridge.asyncio_task.get_name()
            runs_for.setdefault(bridge.trio_task, []).append(f"run_trio for asyncio task {who}")
        else:
            waits_for_asyncio.setdefault(bridge.trio_task, []).append(
                f"waits in run_asyncio on {_describe_future(bridge.asyncio_future)}"
            )
            awaited_by_trio.setdefault(bridge.asyncio_future, []).append(bridge.trio_task.name)
    lines: list[str] = []

    def trio_task(info: TrioTaskInfo, prefix: str, last: bool) -> None:
        notes = runs_for.get(info.task, []) + waits_for_asyncio.get(info.task, [])
        lines.append(_branch(prefix, last) + f"Trio task {info.name}" + _notes(notes))
        inner = _inner(prefix, last)
        children: list[Any] = []
        if info.loop is not None:
            children.append(info.loop)
        children.extend(info.nurseries)
        _stack(info.stack, inner + ("│   " if children else "    "))
        for index, child in enumerate(children):
            is_last = index == len(children) - 1
            if isinstance(child, LoopInfo):
                loop(child, inner, is_last)
            else:
                nursery(child, inner, is_last)

    def nursery(info: NurseryInfo, prefix: str, last: bool) -> None:
        lines.append(_branch(prefix, last) + "nursery")
        inner = _inner(prefix, last)
        for index, child in enumerate(info.tasks):
            trio_task(child, inner, index == len(info.tasks) - 1)

    def loop(info: LoopInfo, prefix: str, last: bool) -> None:
        count = len(info.tasks)
        lines.append(
            _branch(prefix, last)
            + f"aiotrio loop {info.description}: {count} asyncio task{'s' * (count != 1)}"
        )
        inner = _inner(prefix, last)
        for index, task in enumerate(info.tasks):
            asyncio_task(task, inner, index == count - 1)

    def asyncio_task(info: AsyncioTaskInfo, prefix: str, last: bool) -> None:
        notes: list[str] = []
        if info.waits_on is not None:
            notes.append(f"waits on {info.waits_on}")
        if info.awaited_by:
            notes.append("awaited by asyncio task " + ", ".join(info.awaited_by))
        for name in awaited_by_trio.get(info.task, []):
            notes.append(f"awaited in run_asyncio by Trio task {name}")
        lines.append(_branch(prefix, last) + f"asyncio task {info.name}" + _notes(notes))
        _stack(info.stack, _inner(prefix, last) + "    ")

    def _stack(frames: list[Frame], prefix: str) -> None:
        lines.extend(
            f"{prefix}at {frame}"
            for frame in frames
            if internal_frames or not frame.filename.startswith(_INTERNAL_DIRS)
        )

    lines.append(f"Trio run: {sum(1 for _ in tree.trio_tasks())} Trio tasks")
    trio_task(tree.root, "", True)
    return "\n".join(lines) + "\n"


# Where the frames format_task_tree() leaves out live: Trio's core and aiotrio.
_INTERNAL_DIRS = (
    os.path.dirname(trio.lowlevel.current_root_task.__code__.co_filename) + os.sep,
    os.path.dirname(__file__) + os.sep,
)


def _branch(prefix: str, last: bool) -> str:
    return prefix + ("└── " if last else "├── ")


def _inner(prefix: str, last: bool) -> str:
    return prefix + ("    " if last else "│   ")


def _notes(notes: list[str]) -> str:
    return "".join(f" -- {note}" for note in notes)


def _short_path(filename: str) -> str:
    """`filename` relative to the longest sys.path entry containing it."""
    best = ""
    for entry in sys.path:
        if entry and filename.startswith(entry + os.sep) and len(entry) > len(best):
            best = entry
    return filename[len(best) + 1 :] if best else filename
