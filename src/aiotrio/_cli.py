"""``python -m aiotrio``: run an asyncio program, or a console, on aiotrio.

Running a program is an explicit opt-in to routing asyncio: only inside this
process, and only once the command line has been read, do the loops asyncio
makes by default become aiotrio loops (`route_asyncio_to_aiotrio`). Otherwise
the program runs as ``python SCRIPT`` / ``python -m MODULE`` would run it:
same ``sys.argv``, ``sys.path[0]`` and ``__main__``, same exit status, same
traceback for an uncaught exception (starting at the program's code), and an
uncaught KeyboardInterrupt kills the process with SIGINT, as CPython does.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextlib
import importlib.machinery
import io
import os
import runpy
import signal
import sys
import types
import zipfile
from typing import TYPE_CHECKING, Any, NoReturn, cast

import trio

from ._console import interact
from ._open_loop import new_event_loop
from ._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PROG = "python -m aiotrio"

USAGE = f"usage: {PROG} [-h] [--version] [SCRIPT | -m MODULE] [ARG ...]\n"

HELP = (
    USAGE
    + """
Run an unmodified asyncio program with aiotrio as its event loop: in this
process, asyncio.run(), asyncio.Runner() and asyncio.new_event_loop() make
aiotrio loops, hosted on Trio. With no program, open an interactive console
with top-level await, running on an aiotrio loop inside Trio, where asyncio
code is awaited directly and Trio code through aiotrio.run_trio().

arguments:
  SCRIPT      a Python file (or a directory or zip file with a __main__.py)
              to run as __main__, as `python SCRIPT` would
  -m MODULE   run library module MODULE as __main__, as `python -m` would
  ARG ...     the program's arguments: sys.argv[1:]

options:
  -h, --help  show this help and exit
  --version   show the versions of aiotrio, Trio and Python and exit

The exit status, sys.argv, Ctrl-C and uncaught exceptions behave as with
plain python.
"""
)


def version_text() -> str:
    python = ".".join(map(str, sys.version_info[:3]))
    return f"aiotrio {__version__} (Trio {trio.__version__}, Python {python})"


def route_asyncio_to_aiotrio() -> None:
    """Make the loops asyncio creates by default aiotrio loops, in this process.

    ``asyncio.run()`` and ``asyncio.Runner()`` without a ``loop_factory``
    call ``asyncio.events.new_event_loop()``, on every supported Python; so
    does a program that calls ``asyncio.new_event_loop()``. Up to 3.13 the
    loop that ``asyncio.get_event_loop()`` creates comes from the policy's
    method, so that is routed too (3.14 no longer creates one). No event loop
    policy is installed (deprecated from 3.14); a loop_factory the program
    passes explicitly is respected.
    """
    asyncio.events.new_event_loop = new_event_loop
    asyncio.new_event_loop = new_event_loop
    if sys.version_info < (3, 14):
        policy = asyncio.get_event_loop_policy()  # pyright: ignore[reportDeprecated] (< 3.14)
        policy.new_event_loop = new_event_loop  # type: ignore[method-assign]


class UsageError(Exception):
    """A bad command line; the message is printed after the usage line."""


def parse(argv: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """Split the command line into (action, target, program arguments).

    Actions: "help", "version", "console", "script" (target: a path) and
    "module" (target: a module name). Like python, options are read only up
    to the program: everything after SCRIPT or -m MODULE is the program's.
    """
    if not argv:
        return "console", None, []
    arg, rest = argv[0], list(argv[1:])
    if arg in ("-h", "--help"):
        return "help", None, []
    if arg in ("-V", "--version"):
        return "version", None, []
    if arg == "--":  # what follows is a script and its arguments, whatever they look like
        return ("script", rest[0], rest[1:]) if rest else ("console", None, [])
    return parse_program([arg, *rest])


def parse_program(args: list[str]) -> tuple[str, str, list[str]]:
    """``SCRIPT ARG...`` or ``-m MODULE ARG...`` (``-mMODULE`` too, as python)."""
    arg, rest = args[0], args[1:]
    if arg.startswith("-m"):
        module = arg[2:] or (rest.pop(0) if rest else "")
        if not module:
            raise UsageError("Argument expected for the -m option")
        return "module", module, rest
    if arg == "-":
        raise UsageError("reading the program from standard input is not supported")
    if arg.startswith("-"):
        raise UsageError(f"unknown option {arg}")
    return "script", arg, rest


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The command: parse `argv` (default ``sys.argv[1:]``), act, exit."""
    try:
        action, target, args = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        sys.stderr.write(f"{USAGE}{PROG}: error: {error}\n")
        sys.exit(2)
    if action == "help":
        sys.stdout.write(HELP)
        sys.exit(0)
    if action == "version":
        print(version_text())
        sys.exit(0)
    if action == "console":
        sys.exit(interact())
    assert target is not None
    if action == "script":
        sys.exit(_run_program(target, args, _run_script))
    sys.exit(_run_program(target, args, _run_module))


def _run_script(path: str, args: list[str]) -> None:
    # Absolute as python makes it: joined to the working directory, not
    # normalised; python shows this path in __file__ and tracebacks.
    absolute = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    if not os.path.exists(path):
        _fail(2, f"can't open file {absolute!r}: [Errno 2] No such file or directory")
    sys.argv = [path, *args]
    # `python -m aiotrio` put the working directory first on sys.path (unless
    # -P); python puts the script's real directory there, or the directory or
    # zip file itself, whose __main__ it runs.
    if os.path.isdir(path) or zipfile.is_zipfile(path):
        _set_path0(absolute)
        spec = importlib.machinery.PathFinder.find_spec("__main__", [absolute])
        if spec is None or spec.loader is None or spec.origin is None:
            _fail(1, f"can't find '__main__' module in {absolute!r}")
        code = cast("types.CodeType", spec.loader.get_code("__main__"))  # type: ignore[attr-defined]
        _exec_as_main(code, spec.origin, spec.loader, spec)
        return
    if not sys.flags.safe_path:
        _set_path0(os.path.dirname(os.path.realpath(path)))
    with io.open_code(absolute) as file:
        source = file.read()
    code = compile(source, absolute, "exec", dont_inherit=True)
    loader = importlib.machinery.SourceFileLoader("__main__", absolute)
    _exec_as_main(code, absolute, loader, None)


def _set_path0(entry: str) -> None:
    if sys.flags.safe_path:
        sys.path.insert(0, entry)
    else:
        sys.path[0] = entry


def _exec_as_main(
    code: types.CodeType,
    file: str,
    loader: Any,
    spec: importlib.machinery.ModuleSpec | None,
) -> None:
    """Run `code` in a new ``__main__`` module, as python runs a script.

    Not runpy.run_path, which sets ``sys.argv[0]`` and ``__file__`` to the
    same path: python gives ``__file__`` (and tracebacks) an absolute path
    but leaves ``sys.argv[0]`` as typed. The module stays ``__main__`` until
    exit, as python's does.
    """
    main = types.ModuleType("__main__")
    main.__file__ = file
    main.__loader__ = loader
    main.__spec__ = spec
    main.__package__ = "" if spec is not None else None
    main.__cached__ = spec.cached if spec is not None else None  # type: ignore[attr-defined]
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _fail(status: int, message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.exit(status)


def _run_module(module: str, args: list[str]) -> None:
    sys.argv = [module, *args]  # runpy replaces argv[0] with the module's path
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except ImportError as error:
        # runpy's own complaint (no such module, a package without
        # __main__...) as python -m reports it; an ImportError raised by the
        # module's code is the program's.
        if _program_traceback(error) is not error.__traceback__:
            raise
        _fail(1, str(error))


def _run_program(target: str, args: list[str], run: Callable[[str, list[str]], None]) -> int:
    """Run the program with asyncio routed to aiotrio; its exit status."""
    interrupted = False

    def die_if_interrupted() -> None:
        if interrupted:
            _die_of_sigint()

    # Registered first, so it runs after the program's own atexit functions.
    atexit.register(die_if_interrupted)
    route_asyncio_to_aiotrio()
    try:
        run(target, args)
    except SystemExit:
        raise
    except BaseException as error:
        tb = _program_traceback(error)
        sys.excepthook(type(error), error.with_traceback(tb), tb)
        if isinstance(error, KeyboardInterrupt):
            interrupted = True
            return 130
        return 1
    return 0


def _die_of_sigint() -> None:
    """What CPython does at the very end after an uncaught KeyboardInterrupt.

    Dying of SIGINT, rather than exiting with a status, tells the parent
    (a shell, say) that the program was interrupted. Elsewhere than POSIX the
    exit status (130) stands.
    """
    if os.name != "posix":
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _program_traceback(error: BaseException) -> types.TracebackType | None:
    """`error`'s traceback from the program's first frame on, as python shows it.

    The frames before are this module's and runpy's. Without a frame of the
    program, a SyntaxError (from compiling it) gets none, as in python, and
    anything else keeps its whole traceback.
    """
    tb = error.__traceback__
    entry = tb
    while entry is not None:
        if entry.tb_frame.f_code in _EXEC_FRAMES:
            return entry.tb_next  # the first: the program may use runpy too
        entry = entry.tb_next
    if isinstance(error, SyntaxError):
        return None
    return tb


# The code of the functions whose frames execute the program's code: ours,
# and runpy's (_run_code, in every supported Python).
_EXEC_FRAMES: frozenset[types.CodeType] = frozenset(
    code
    for code in (
        _exec_as_main.__code__,
        getattr(getattr(runpy, "_run_code", None), "__code__", None),
    )
    if code is not None
)
