"""``python -m aiotrio``: programs run on aiotrio as python runs them; the console.

Every test runs the command in a subprocess, most beside plain ``python`` on
the same program, and compares what a user would see.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from typing import TYPE_CHECKING

import pytest

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

AIOTRIO = [sys.executable, "-m", "aiotrio"]
PYTHON = [sys.executable]
TIMEOUT = 30

# Prints what the program sees: the loop asyncio.run() gave it, and the
# process state python sets up for a script.
INTROSPECT = """\
import asyncio, os, sys

async def main():
    loop = asyncio.get_running_loop()
    print("loop", type(loop).__module__.split(".")[0], type(loop).__name__)
    print("argv", sys.argv)
    print("path0", sys.path[0])
    print("name", __name__, "file", __file__)
    print("main is this module", sys.modules["__main__"].__dict__ is globals())

asyncio.run(main())
"""


def run(
    command: list[str],
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        input=input,
        env=env,
        check=False,
    )


def program(tmp_path: Path, source: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# -- options -----------------------------------------------------------------------


def test_version() -> None:
    result = run(AIOTRIO, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"aiotrio {aiotrio.__version__} (Trio ")
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}." in result.stdout


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help(option: str) -> None:
    result = run(AIOTRIO, option)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m aiotrio [-h] [--version]")
    assert "-m MODULE" in result.stdout
    assert "interactive console" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option --bogus"),
        (["-m"], "Argument expected for the -m option"),
    ],
)
def test_bad_command_line(args: list[str], message: str) -> None:
    result = run(AIOTRIO, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m aiotrio")
    assert message in result.stderr


def test_options_after_the_script_are_the_programs(tmp_path: Path) -> None:
    path = program(tmp_path, INTROSPECT)
    result = run(AIOTRIO, str(path), "--version", "-m", "x")
    assert f"argv [{str(path)!r}, '--version', '-m', 'x']" in result.stdout


def test_joined_m_and_double_dash(tmp_path: Path) -> None:
    program(tmp_path, INTROSPECT, "introspect.py")
    joined = run(AIOTRIO, "-mintrospect", "x", cwd=tmp_path)
    assert f"argv [{str(tmp_path / 'introspect.py')!r}, 'x']" in joined.stdout
    dashed = run(AIOTRIO, "--", "introspect.py", "-m", cwd=tmp_path)
    assert "argv ['introspect.py', '-m']" in dashed.stdout


# -- running a program ---------------------------------------------------------------


def test_script_runs_on_aiotrio_with_pythons_process_state(tmp_path: Path) -> None:
    program(tmp_path, INTROSPECT)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    plain = run(PYTHON, "../prog.py", "a", "--b", cwd=elsewhere)
    ours = run(AIOTRIO, "../prog.py", "a", "--b", cwd=elsewhere)
    assert plain.returncode == ours.returncode == 0, ours.stderr
    assert "loop asyncio _UnixSelectorEventLoop" in plain.stdout
    assert "loop aiotrio EventLoop" in ours.stdout
    # Apart from the loop, the program sees what it sees under python.
    assert plain.stdout.splitlines()[1:] == ours.stdout.splitlines()[1:]
    assert f"path0 {tmp_path}" in ours.stdout
    assert "argv ['../prog.py', 'a', '--b']" in ours.stdout
    assert f"file {tmp_path / 'cwd' / '..' / 'prog.py'}" in ours.stdout
    assert ours.stderr == ""


def test_module_runs_on_aiotrio_with_pythons_process_state(tmp_path: Path) -> None:
    program(tmp_path, INTROSPECT, "introspect.py")
    plain = run(PYTHON, "-m", "introspect", "x", cwd=tmp_path)
    ours = run(AIOTRIO, "-m", "introspect", "x", cwd=tmp_path)
    assert plain.returncode == ours.returncode == 0, ours.stderr
    assert "loop aiotrio EventLoop" in ours.stdout
    # sys.modules["__main__"] differs under runpy.run_module: not compared.
    assert plain.stdout.splitlines()[1:4] == ours.stdout.splitlines()[1:4]
    assert f"argv [{str(tmp_path / 'introspect.py')!r}, 'x']" in ours.stdout


@pytest.mark.parametrize("kind", ["directory", "zip"])
def test_directory_or_zip_with_main_runs(tmp_path: Path, kind: str) -> None:
    (tmp_path / "app").mkdir()
    program(tmp_path, INTROSPECT, "app/__main__.py")
    target = "app"
    if kind == "zip":
        with zipfile.ZipFile(tmp_path / "app.zip", "w") as archive:
            archive.write(tmp_path / "app" / "__main__.py", "__main__.py")
        target = "app.zip"
    plain = run(PYTHON, target, cwd=tmp_path)
    ours = run(AIOTRIO, target, cwd=tmp_path)
    assert plain.returncode == ours.returncode == 0, ours.stderr
    assert "loop aiotrio EventLoop" in ours.stdout
    assert plain.stdout.splitlines()[1:] == ours.stdout.splitlines()[1:]
    assert f"path0 {tmp_path / target}" in ours.stdout


def test_directory_without_main(tmp_path: Path) -> None:
    result = run(AIOTRIO, str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        f"python -m aiotrio: can't find '__main__' module in {str(tmp_path)!r}\n"
    )


def test_missing_script_and_module() -> None:
    result = run(AIOTRIO, "no_such_script.py")
    assert result.returncode == 2
    assert "can't open file" in result.stderr
    assert "no_such_script.py" in result.stderr
    result = run(AIOTRIO, "-m", "no_such_module_here")
    assert result.returncode == 1
    assert result.stderr == "python -m aiotrio: No module named no_such_module_here\n"


def test_import_error_in_the_module_is_the_programs(tmp_path: Path) -> None:
    program(tmp_path, "import no_such_module_here\n", "broken.py")
    plain = run(PYTHON, "-m", "broken", cwd=tmp_path)
    ours = run(AIOTRIO, "-m", "broken", cwd=tmp_path)
    assert plain.returncode == ours.returncode == 1
    assert ours.stderr.startswith("Traceback (most recent call last):\n")
    assert ours.stderr.endswith(plain.stderr.split("\n", 3)[-1])


@pytest.mark.parametrize(
    ("exit_call", "status"),
    [("sys.exit(7)", 7), ("sys.exit('bye')", 1), ("sys.exit()", 0)],
)
def test_exit_status(tmp_path: Path, exit_call: str, status: int) -> None:
    path = program(
        tmp_path,
        f"""\
        import asyncio, sys

        async def main():
            await asyncio.sleep(0)
            {exit_call}

        asyncio.run(main())
        """,
    )
    plain = run(PYTHON, str(path))
    ours = run(AIOTRIO, str(path))
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert ours.returncode == status


UNCAUGHT = """\
import asyncio

async def fail():
    await asyncio.sleep(0)
    raise ValueError("from asyncio code")

async def main():
    await fail()

asyncio.run(main())
"""


def test_uncaught_exception_reads_as_under_python(tmp_path: Path) -> None:
    path = program(tmp_path, UNCAUGHT)
    plain = run(PYTHON, str(path))
    ours = run(AIOTRIO, str(path))
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr
    assert "aiotrio" not in ours.stderr


def test_syntax_error_reads_as_under_python(tmp_path: Path) -> None:
    path = program(tmp_path, "async def main(:\n    pass\n")
    plain = run(PYTHON, str(path))
    ours = run(AIOTRIO, str(path))
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


def test_program_excepthook_is_used(tmp_path: Path) -> None:
    path = program(
        tmp_path,
        """\
        import sys
        sys.excepthook = lambda t, e, tb: print("hook saw", t.__name__, e)
        raise LookupError("x")
        """,
    )
    ours = run(AIOTRIO, str(path))
    assert (ours.returncode, ours.stdout) == (1, "hook saw LookupError x\n")


def test_futures_in_code_of_the_program_stay_its_own(tmp_path: Path) -> None:
    # Our module imports `from __future__ import annotations`; the program
    # must not inherit it.
    path = program(
        tmp_path,
        """\
        def f(x: int) -> None: ...
        print(f.__annotations__)
        """,
    )
    assert run(AIOTRIO, str(path)).stdout == "{'x': <class 'int'>, 'return': None}\n"


def test_every_default_loop_is_routed_and_explicit_factories_respected(
    tmp_path: Path,
) -> None:
    path = program(
        tmp_path,
        """\
        import asyncio

        async def kind():
            return type(asyncio.get_running_loop()).__name__

        print("run", asyncio.run(kind()))
        with asyncio.Runner() as runner:
            print("Runner", runner.run(kind()))
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            print("explicit", runner.run(kind()))
        loop = asyncio.new_event_loop()
        print("new_event_loop", loop.run_until_complete(kind()))
        loop.close()
        """,
    )
    result = run([sys.executable, "-W", "error", "-m", "aiotrio"], str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run EventLoop",
        "Runner EventLoop",
        "explicit _UnixSelectorEventLoop",
        "new_event_loop EventLoop",
    ]


@pytest.mark.skipif(
    sys.version_info >= (3, 14),
    reason="asyncio.get_event_loop() no longer creates a loop from Python 3.14",
)
def test_legacy_get_event_loop_is_routed(tmp_path: Path) -> None:
    path = program(
        tmp_path,
        """\
        import asyncio, warnings
        warnings.simplefilter("ignore", DeprecationWarning)

        async def kind():
            return type(asyncio.get_running_loop()).__name__

        loop = asyncio.get_event_loop()
        print(loop.run_until_complete(kind()))
        """,
    )
    assert run(AIOTRIO, str(path)).stdout == "EventLoop\n"


def test_importing_aiotrio_changes_nothing_global() -> None:
    code = """\
import asyncio, sys, warnings
def state():
    return (asyncio.new_event_loop, asyncio.events.new_event_loop, asyncio.run,
            asyncio.Runner, asyncio.events._event_loop_policy, sys.excepthook)
before = state()
import aiotrio, aiotrio.pytest_plugin, aiotrio._cli, aiotrio._console
after = state()
assert before == after, (before, after)
assert type(asyncio.new_event_loop()).__module__ == "asyncio.unix_events"
print("unchanged")
"""
    result = run(PYTHON, "-W", "error", "-c", code)
    assert result.stdout == "unchanged\n", result.stderr


# -- Ctrl-C --------------------------------------------------------------------------

INTERRUPTIBLE = """\
import asyncio, atexit
atexit.register(lambda: print("atexit ran", flush=True))

async def main():
    print("ready", flush=True)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("main cancelled", flush=True)
        raise

asyncio.run(main())
"""


def interrupt(command: list[str]) -> tuple[int, str, str]:
    """Start `command`, wait for it to print "ready", send SIGINT, collect."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        finally:
            process.kill()
    return process.returncode, "ready\n" + stdout, stderr


def test_ctrl_c_cancels_main_then_raises_keyboard_interrupt(tmp_path: Path) -> None:
    path = program(tmp_path, INTERRUPTIBLE)
    plain = interrupt([*PYTHON, str(path)])
    ours = interrupt([*AIOTRIO, str(path)])
    # Killed by SIGINT after shutting down, as python does (a shell shows 130).
    assert ours[0] == plain[0] == -signal.SIGINT
    assert ours[1] == plain[1] == "ready\nmain cancelled\natexit ran\n"
    assert ours[2] == plain[2]
    assert ours[2].endswith("\nKeyboardInterrupt\n")


def test_ctrl_c_without_asyncio_run(tmp_path: Path) -> None:
    # No asyncio.Runner to catch SIGINT: KeyboardInterrupt comes out of the
    # loop, here out of Trio.
    path = program(
        tmp_path,
        """\
        import asyncio
        loop = asyncio.new_event_loop()
        loop.call_soon(lambda: print("ready", flush=True))
        try:
            loop.run_until_complete(asyncio.sleep(60))
        finally:
            loop.close()
        """,
    )
    plain = interrupt([*PYTHON, str(path)])
    ours = interrupt([*AIOTRIO, str(path)])
    assert ours[0] == plain[0] == -signal.SIGINT
    assert ours[2].endswith("\nKeyboardInterrupt\n")
    assert "Traceback (most recent call last):\n" in ours[2]


# -- the console ---------------------------------------------------------------------


def outputs(stdout: str) -> list[str]:
    """The console's output lines, without the prompts in front."""
    lines = (re.sub(r"^((>>>|\.\.\.) )+", "", line) for line in stdout.splitlines())
    return [line for line in lines if line]


def console(stdin: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(AIOTRIO, input=textwrap.dedent(stdin), env={**os.environ, **env})


def test_console_awaits_asyncio_and_trio() -> None:
    result = console(
        """\
        await asyncio.sleep(0.05, "asyncio slept")
        start = trio.current_time()
        await aiotrio.run_trio(trio.sleep, 0.05)
        trio.current_time() - start >= 0.05
        type(asyncio.get_running_loop()).__name__
        aiotrio.current_loop() is asyncio.get_running_loop()
        """
    )
    assert result.returncode == 0, result.stderr
    assert outputs(result.stdout) == [
        "'asyncio slept'",
        "True",
        "'EventLoop'",
        "True",
    ]
    assert result.stderr.startswith(f"aiotrio {aiotrio.__version__} console")
    assert result.stderr.endswith("exiting aiotrio console...\n")


def test_console_keeps_names_and_context_between_statements() -> None:
    result = console(
        """\
        import contextvars
        var = contextvars.ContextVar("var")
        async def set_it():
            var.set("kept")

        await set_it()
        var.get()
        """
    )
    assert "'kept'" in result.stdout, result.stderr


def test_console_shows_tracebacks_from_the_statement() -> None:
    result = console(
        """\
        async def fail():
            await asyncio.sleep(0)
            raise ValueError("from asyncio")

        await fail()
        1 / 0
        "still running"
        """
    )
    assert "'still running'" in result.stdout
    assert (
        'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\n'
        '  File "<stdin>", line 3, in fail\nValueError: from asyncio\n'
    ) in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "concurrent" not in result.stderr
    assert "aiotrio/" not in result.stderr


@pytest.mark.parametrize(
    ("statement", "status"),
    [("exit(4)", 4), ("await asyncio.sleep(0); raise SystemExit(5)", 5)],
)
def test_console_exit_status(statement: str, status: int) -> None:
    result = console(f"{statement}\nprint('not reached')\n")
    assert result.returncode == status
    assert "not reached" not in result.stdout


def test_console_runs_pythonstartup(tmp_path: Path) -> None:
    startup = tmp_path / "startup.py"
    startup.write_text("greeting = 'hello from startup'\n")
    result = console("greeting\n", PYTHONSTARTUP=str(startup))
    assert "'hello from startup'" in result.stdout


class Console:
    """A console subprocess driven line by line, for Ctrl-C tests."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            AIOTRIO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._unread = ""

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def read_until(self, text: str) -> str:
        """The output up to and including `text`, waiting at most TIMEOUT."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + TIMEOUT
        while text not in self._unread:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            assert ready, f"no {text!r} in time; output: {self._unread!r}"
            chunk = os.read(fd, 4096)
            assert chunk, f"console exited; output: {self._unread!r}"
            self._unread += chunk.decode()
        end = self._unread.index(text) + len(text)
        seen, self._unread = self._unread[:end], self._unread[end:]
        return seen

    def close(self) -> int:
        """Close stdin (EOF) and return the exit status."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=TIMEOUT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def session() -> Iterator[Console]:
    console = Console()
    try:
        yield console
    finally:
        console.kill()


def _wait_until_blocked(pid: int) -> None:
    """Wait until the process's main thread sleeps in the kernel (state S in /proc)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rpartition(")")[2].split()[0] == "S":
                return
        time.sleep(0.001)  # polling a state, not a timing margin
    raise AssertionError(f"process {pid} never blocked")


@pytest.mark.parametrize(
    ("setup", "statement", "blocks"),
    [
        ("", "await asyncio.sleep(60)", True),
        ("", "await aiotrio.run_trio(trio.sleep, 60)", True),
        ("import time", "time.sleep(60)", True),
        ("", "while True: pass", False),
        ("async def spin():\n    while True: await asyncio.sleep(0)\n", "await spin()", False),
        ("async def busy():\n    while True: pass\n", "await busy()", False),
    ],
    ids=["asyncio", "trio", "blocking", "busy", "spinning-task", "busy-task"],
)
def test_console_ctrl_c_interrupts_the_statement(
    session: Console, setup: str, statement: str, blocks: bool
) -> None:
    # "running" is printed by the statement itself: once it shows, Ctrl-C lands in it.
    # A blocking statement is interrupted once it blocks: a Ctrl-C in the instant
    # between the print and the blocking call is held until the next checkpoint
    # (the console runs statements inside Trio), as noted in the console's docs.
    session.send(f'{setup}\nif not print("running", flush=True):\n    {statement}\n\n')
    session.read_until("running\n")
    if blocks:
        _wait_until_blocked(session.process.pid)
    session.process.send_signal(signal.SIGINT)
    session.read_until("\nKeyboardInterrupt\n")
    session.send('print("still here")\n')
    session.read_until("still here\n")
    assert session.close() == 0


def test_console_ctrl_c_at_the_prompt_is_ignored(session: Console) -> None:
    session.send('print("up")\n')
    session.read_until("up\n")
    # Python runs the (ignoring) handler before any later statement: no wait needed.
    session.process.send_signal(signal.SIGINT)
    session.send('print("still here")\n')
    session.read_until("still here\n")
    assert session.close() == 0
