"""The interactive console of ``python -m aiotrio``: top-level await on aiotrio.

Modelled on ``python -m asyncio``: a `code.InteractiveConsole` in a thread of
its own compiles each statement with top-level await allowed, and the
statement runs on the loop, as an asyncio task if it awaits. The difference:
the loop is an aiotrio loop open inside ``trio.run`` (`aiotrio.run`), so
``await aiotrio.run_trio(trio.sleep, 1)`` works beside ``await
asyncio.sleep(1)``.

Ctrl-C while a statement runs interrupts it, as in the asyncio REPL: an
awaiting statement is cancelled, a busy one gets KeyboardInterrupt; either way
the console prints ``KeyboardInterrupt`` and goes on. At the prompt, Ctrl-C is
ignored (the prompt is read in another thread); Ctrl-D or ``exit()`` leave.
Statements share one `contextvars.Context`, as in Python 3.13's asyncio REPL.
"""

from __future__ import annotations

import ast
import asyncio
import code
import concurrent.futures
import contextlib
import contextvars
import inspect
import os
import signal
import sys
import threading
import types
import warnings
from typing import TYPE_CHECKING, Any

import trio

import aiotrio

from ._version import __version__

if TYPE_CHECKING:
    from ._loop import EventLoop

EXIT_MESSAGE = "exiting aiotrio console..."


def banner() -> str:
    ps1 = getattr(sys, "ps1", ">>> ")
    return (
        f"aiotrio {__version__} console: asyncio on Trio {trio.__version__}\n"
        f"Python {sys.version} on {sys.platform}\n"
        'Use "await" directly: `await asyncio.sleep(1)` for asyncio, '
        "`await aiotrio.run_trio(trio.sleep, 1)` for Trio.\n"
        'Type "help", "copyright", "credits" or "license" for more information.\n'
        f"{ps1}import asyncio, trio, aiotrio"
    )


class AsyncioConsole(code.InteractiveConsole):
    """A console whose statements run on `loop`, from another thread.

    `runcode` is called in the console's thread; it hands the compiled
    statement to the loop and blocks until the statement is done.
    """

    def __init__(self, loop: EventLoop, namespace: dict[str, Any]) -> None:
        super().__init__(namespace, filename="<stdin>")
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self.loop = loop
        self.context = contextvars.copy_context()
        # Touched only in the loop's (main) thread, signal handler included.
        self._statement: asyncio.Task[BaseException | None] | None = None
        self._code: types.CodeType | None = None
        self._interrupted = False

    # -- the console's thread ------------------------------------------------------

    def runcode(self, code: types.CodeType) -> None:
        done: concurrent.futures.Future[BaseException | None] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self._start, code, done, context=self.context)
        error = done.result()
        if error is None:
            return
        if isinstance(error, SystemExit):
            raise error
        if isinstance(error, KeyboardInterrupt):
            self.write("\nKeyboardInterrupt\n")
            return
        # Shown from the statement's own frame on, like the standard console.
        try:
            raise error.with_traceback(_from_code(error.__traceback__, code))
        except BaseException:
            self.showtraceback()

    # -- the loop's thread ---------------------------------------------------------

    def _start(
        self,
        code: types.CodeType,
        done: concurrent.futures.Future[BaseException | None],
    ) -> None:
        """Run the statement; a coroutine (it awaits) goes on as a task."""
        self._interrupted = False
        function = types.FunctionType(code, self.namespace)
        self._code = code
        try:
            coro = function()
        except BaseException as error:
            self._code = None
            done.set_result(error)
            return
        if not inspect.iscoroutine(coro):
            self._code = None
            done.set_result(None)
            return
        task = self.loop.create_task(_contain(coro), context=self.context)
        self._statement = task
        task.add_done_callback(lambda task: self._finish(task, done))

    def _finish(
        self,
        task: asyncio.Task[BaseException | None],
        done: concurrent.futures.Future[BaseException | None],
    ) -> None:
        self._statement = None
        self._code = None
        if task.cancelled():
            error: BaseException | None = (
                KeyboardInterrupt() if self._interrupted else asyncio.CancelledError()
            )
        else:
            error = task.exception() or task.result()
        done.set_result(error)

    def on_sigint(self, signum: int, frame: types.FrameType | None) -> None:
        """SIGINT while the console runs (see the module docstring).

        KeyboardInterrupt is raised only in the statement's own call stack,
        where `_contain` or `_start` turns it into the statement's outcome;
        raised anywhere else (the driver, a callback the task's step makes)
        it would end the loop. An awaiting statement is cancelled instead.
        """
        if self._code is None:
            return  # at the prompt
        while frame is not None:
            if frame.f_code is self._code:
                raise KeyboardInterrupt
            frame = frame.f_back
        task = self._statement
        if task is not None and not task.done():
            self._interrupted = True
            self.loop.call_soon_threadsafe(task.cancel)

    @property
    def namespace(self) -> dict[str, Any]:
        return self.locals


async def _contain(coro: Any) -> BaseException | None:
    """Await a statement, returning the exceptions that must not escape a task.

    An asyncio task re-raises KeyboardInterrupt and SystemExit out of the
    loop, which would end the console's loop; they are results here.
    """
    try:
        await coro
    except (KeyboardInterrupt, SystemExit) as error:
        return error
    return None


def _from_code(tb: types.TracebackType | None, code: types.CodeType) -> types.TracebackType | None:
    """The part of `tb` from the statement's frame on (all of it if absent)."""
    entry = tb
    while entry is not None:
        if entry.tb_frame.f_code is code:
            return entry
        entry = entry.tb_next
    return tb


def _run_startup_file(console: AsyncioConsole) -> None:
    """Run $PYTHONSTARTUP in the console's namespace, as python's REPL does."""
    path = None if sys.flags.ignore_environment else os.environ.get("PYTHONSTARTUP")
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as file:
            startup = compile(file.read(), path, "exec")
        exec(startup, console.namespace)
    except SystemExit:
        raise
    except BaseException:
        console.showtraceback()


def _converse(console: AsyncioConsole) -> int | str | None:
    """The console's thread: read and run statements until EOF or exit()."""
    try:
        if sys.stdin.isatty():
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401, PLC0415  # pyright: ignore[reportUnusedImport] (line editing, history)
        _run_startup_file(console)
        console.interact(banner=banner(), exitmsg=EXIT_MESSAGE)
    except SystemExit as exit:
        return exit.code
    return 0


async def _serve() -> int | str | None:
    loop = aiotrio.current_loop()
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__doc__": None,
        "__builtins__": __builtins__,
        "asyncio": asyncio,
        "trio": trio,
        "aiotrio": aiotrio,
    }
    console = AsyncioConsole(loop, namespace)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, console.on_sigint) if main_thread else None
    try:
        # Abandoned only if the loop fails under it, rather than hang.
        return await trio.to_thread.run_sync(_converse, console, abandon_on_cancel=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        # Statements never awaited, abandoned at exit: nothing to warn about.
        warnings.filterwarnings(
            "ignore",
            message=r"^coroutine .* was never awaited$",
            category=RuntimeWarning,
        )


def interact() -> int | str | None:
    """Run the console until EOF or ``exit()``; the exit status (for sys.exit)."""
    return aiotrio.run(_serve)
