"""``%load_ext aiotrio``: one Trio run and one aiotrio loop for a whole IPython session.

IPython hands every cell with a top-level ``await`` to its ``loop_runner``.
Ours hands the cell to a `Session`: a thread of its own where ``trio.run``
keeps an ``aiotrio.open_loop()`` block open until the session ends. Each cell
runs there as a Trio task (mode ``trio``) or as an asyncio task on the loop
(mode ``asyncio``, the default), while IPython's thread waits for it. Tasks
a cell starts in the background (`Session.start_soon`,
`Session.create_task`, or ``asyncio.create_task`` in an asyncio cell) keep
running between cells, because the run and the loop do.

Ctrl-C (a kernel interrupt is a SIGINT too) reaches IPython's thread while it
waits: the running cell is cancelled (it sees ``trio.Cancelled`` or
``asyncio.CancelledError`` where it awaits) or, when the cell is busy in its
own code at that moment, gets KeyboardInterrupt there, as code in IPython's
thread would. Background tasks are not touched.

Cells without ``await`` run in IPython's thread as usual, so ``%run`` and
``asyncio.run()`` keep working in them.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import contextvars
import ctypes
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import trio

from ._bridge import run_coroutine_on
from ._loop_var import current_loop_var
from ._open_loop import open_loop

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Coroutine
    from types import FrameType

    from ._loop import EventLoop

T = TypeVar("T")
Mode = Literal["asyncio", "trio"]
MODES: tuple[Mode, ...] = ("asyncio", "trio")

#: The name the session has in the user's namespace.
NAMESPACE_NAME = "background"


class SessionClosedError(RuntimeError):
    """The session's Trio run has ended: nothing more can run in it."""


class _Cell:
    """One cell's coroutine on its way through the session's run."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.scope = trio.CancelScope()
        self.done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.started = False  # touched in the session's thread only


class Session:
    """A Trio run with an aiotrio loop open, in a daemon thread, until `close`.

    `run_cell` is the IPython ``loop_runner``. `start_soon` and `create_task`
    start background work from any thread (a cell, or IPython's thread).
    """

    def __init__(self, mode: Mode = "asyncio", *, readiness: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode: Mode = mode
        self._readiness = readiness
        self._token: trio.lowlevel.TrioToken | None = None
        self._loop: EventLoop | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._cells: set[_Cell] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, name="aiotrio-ipython", daemon=True)
        self._thread.start()
        self._started.result()

    # -- the session's thread ----------------------------------------------------------

    def _serve(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            else:
                print("aiotrio: the IPython session's Trio run failed:", file=sys.stderr)
                traceback.print_exception(exc, file=sys.stderr)
        finally:
            with self._lock:
                self._closed = True
                cells, self._cells = list(self._cells), set()
            for cell in cells:  # only if the run failed under them
                if not cell.done.done():
                    cell.done.set_exception(SessionClosedError("the aiotrio session ended"))

    async def _main(self) -> None:
        async with open_loop(readiness=self._readiness) as loop, trio.open_nursery() as nursery:
            self._loop = loop
            self._nursery = nursery
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            self._started.set_result(None)
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    async def _run_cell(self, cell: _Cell) -> None:
        loop = self.loop
        current_loop_var.set(loop)
        try:
            with cell.scope:
                if self.mode == "trio":
                    value = await cell.coro
                else:
                    value = await run_coroutine_on(loop, cell.coro)
                cell.done.set_result(value)
        except BaseException as exc:
            cell.done.set_exception(exc)
            if isinstance(exc, trio.Cancelled):
                raise  # the session is closing
        finally:
            with self._lock:
                self._cells.discard(cell)
            if not cell.done.done():  # cancelled before it ran, or IPython let it out
                cell.done.set_exception(KeyboardInterrupt())

    async def _guard(self, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        """A background Trio task: its failure is printed, not fatal to the session."""
        current_loop_var.set(self.loop)
        try:
            await async_fn(*args)
        except Exception as exc:
            print(f"aiotrio: background task {async_fn!r} failed:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            print(f"aiotrio: background task {task!r} failed:", file=sys.stderr)
            traceback.print_exception(task.exception(), file=sys.stderr)

    def background_counts(self) -> str:
        """How many background tasks run, as "N Trio tasks and M asyncio tasks"."""
        with self._lock:
            cells = len(self._cells)
        trio_tasks = max(0, len(self.nursery.child_tasks) - cells)
        return f"{trio_tasks} Trio tasks and {len(self._tasks)} asyncio tasks"

    # -- any thread --------------------------------------------------------------------

    @property
    def loop(self) -> EventLoop:
        """The session's aiotrio loop."""
        assert self._loop is not None
        return self._loop

    @property
    def nursery(self) -> trio.Nursery:
        """The nursery background Trio tasks run in (use it from the session's thread)."""
        assert self._nursery is not None
        return self._nursery

    @property
    def closed(self) -> bool:
        return self._closed

    def in_session_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the session's thread, from any thread; its result."""
        if self._closed or self._token is None:
            raise SessionClosedError("the aiotrio session is closed")
        if self.in_session_thread():
            return fn(*args)
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def start_soon(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``async_fn(*args)`` as a Trio task that outlives the cell.

        It runs until it returns or the session closes; an exception it
        raises is printed to stderr. It sees the caller's context variables.
        """
        context = contextvars.copy_context()
        self._call(context.run, self._start_guarded, async_fn, args)

    def _start_guarded(
        self, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> None:
        self.nursery.start_soon(self._guard, async_fn, args, name=async_fn)

    def create_task(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run asyncio coroutine `coro` as a task of the session's loop; the task.

        The session keeps a reference until it is done; an exception it ends
        with is printed to stderr.
        """

        def create() -> asyncio.Task[T]:
            task = self.loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)
            return task

        # (pyright cannot solve T through Context.run's ParamSpec)
        return self._call(contextvars.copy_context().run, create)  # pyright: ignore[reportReturnType]

    # -- IPython's thread --------------------------------------------------------------

    def run_cell(self, coro: Coroutine[Any, Any, T]) -> T:
        """IPython's ``loop_runner``: run a cell's coroutine in the session; its result.

        A KeyboardInterrupt may land anywhere here, even before the cell is
        handed over: the hand-over is repeated until it is known to be done
        (`_start_cell` ignores repeats), and every later one interrupts the cell.
        """
        if self.in_session_thread():
            coro.close()
            raise RuntimeError("a cell running in the aiotrio session cannot run another cell")
        cell = _Cell(coro)
        context = contextvars.copy_context()
        with self._lock:
            if self._closed:
                coro.close()
                raise SessionClosedError("the aiotrio session is closed: %reload_ext aiotrio")
            self._cells.add(cell)
        token = self._token
        assert token is not None
        handed_over = False
        while True:
            try:
                if not handed_over:
                    # (pyright cannot pass Context.run's ParamSpec through PosArgsT)
                    token.run_sync_soon(context.run, self._start_cell, cell)  # pyright: ignore[reportArgumentType]
                    handed_over = True
                return cast("T", cell.done.result())
            except KeyboardInterrupt:
                self._interrupt(cell)

    def _start_cell(self, cell: _Cell) -> None:
        if not cell.started:
            cell.started = True
            self.nursery.start_soon(self._run_cell, cell, name="IPython cell")

    def _interrupt(self, cell: _Cell) -> None:
        """Ctrl-C while `cell` runs: KeyboardInterrupt if it is busy, else cancel it."""
        if self._busy_in(cell):
            # Raised at the thread's next bytecode boundary, in the cell's code.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident or 0), ctypes.py_object(KeyboardInterrupt)
            )
            return
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(cell.scope.cancel)

    def _busy_in(self, cell: _Cell) -> bool:
        """Whether the session's thread is executing the cell's code right now."""
        frame: FrameType | None = sys._current_frames().get(self._thread.ident or 0)
        target = getattr(cell.coro, "cr_frame", None)
        while frame is not None:
            if frame is target:
                return True
            frame = frame.f_back
        return False

    def close(self) -> None:
        """Cancel the cells and background tasks, close the loop, end the run."""
        if not self._closed and self._token is not None and self._stop is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._stop.set)
        self._thread.join()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"mode={self.mode}"
        return f"<aiotrio IPython session {state}>"


# -- the extension --------------------------------------------------------------------

_sessions: dict[int, tuple[Session, Any, bool]] = {}

USAGE = """\
%aiotrio          show the session: mode, loop, background tasks
%aiotrio asyncio  cells with top-level await run as asyncio tasks (the default)
%aiotrio trio     cells with top-level await run as Trio tasks
%aiotrio tree     print the task tree (aiotrio.format_task_tree())"""


def load(shell: Any) -> None:
    """``%load_ext aiotrio``: start the session, make it the shell's loop runner."""
    key = id(shell)
    if key in _sessions:
        return
    session = Session()
    _sessions[key] = (session, shell.loop_runner, shell.autoawait)
    shell.loop_runner = session.run_cell
    shell.autoawait = True
    shell.push({NAMESPACE_NAME: session})
    shell.register_magic_function(_magic_for(session), "line", "aiotrio")
    atexit.register(session.close)


def unload(shell: Any) -> None:
    """``%unload_ext aiotrio``: close the session, give the shell its runner back."""
    entry = _sessions.pop(id(shell), None)
    if entry is None:
        return
    session, loop_runner, autoawait = entry
    shell.loop_runner = loop_runner
    shell.autoawait = autoawait
    if shell.user_ns.get(NAMESPACE_NAME) is session:
        shell.drop_by_id({NAMESPACE_NAME: session})
    session.close()
    atexit.unregister(session.close)


def _magic_for(session: Session) -> Callable[[str], None]:
    def aiotrio(line: str) -> None:
        """Switch how await-cells run (asyncio or trio), or show the session."""
        argument = line.strip()
        if argument in MODES:
            session.mode = argument
        elif argument == "tree":
            from ._task_tree import format_task_tree  # noqa: PLC0415

            print(session._call(format_task_tree), end="")
            return
        elif argument:
            print(USAGE)
            return
        print(
            f"aiotrio: await-cells run as {session.mode} tasks; loop {session.loop!r}; "
            f"{session.background_counts()} started in the background"
        )

    return aiotrio
