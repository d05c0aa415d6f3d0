"""Run a Python program in a child process with a hard time limit, optionally interrupting it.

A hang is a result here, never a wait: the child is killed (its whole process
group) when its time is up, and `ChildResult.hung` says so. Used by the
regression tests (tests/test_repros.py) and the fault matrix (tests/faults/run.py).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class ChildResult:
    """What a child did: its exit, its output, and whether it had to be killed."""

    returncode: int | None
    stdout: str
    stderr: str
    hung: bool
    seconds: float
    #: Markers the child never printed, so the interrupts meant for them were not sent.
    missed: list[str] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """It ended with KeyboardInterrupt (traceback or SIGINT exit status)."""
        return self.returncode in (-signal.SIGINT, 130) or (
            self.returncode == 1 and "KeyboardInterrupt" in self.stderr
        )

    def describe(self) -> str:
        state = "HUNG (killed)" if self.hung else f"exit {self.returncode}"
        return (
            f"{state} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def ensure_sigint_inherited() -> None:
    """Let children handle SIGINT even if this process was started with it ignored.

    A process started in the background by a non-interactive shell ignores
    SIGINT, and an ignored signal stays ignored across exec: its children
    would never see the Ctrl-C the tests send. A caught signal is reset to
    the default by exec, so catching it here (main thread only) is enough.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # the runner calls ensure_sigint_inherited() at its start
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _pump(stream: object, lines: queue.Queue[str | None], sink: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        lines.put(line)
    lines.put(None)


def run_child(
    code: str | list[str],
    *,
    timeout: float,
    interrupts: list[tuple[str, float]] | tuple[()] = (),
    env: dict[str, str] | None = None,
    signum: int = signal.SIGINT,
) -> ChildResult:
    """Run `code` (Python source, or argv after the interpreter) in a fresh interpreter.

    `interrupts`: for each ``(marker, delay)`` in order, wait until the child
    prints a line containing `marker` (any earlier line counts too), sleep
    `delay` seconds, then send `signum`. Whatever happens, the child is gone
    when this returns, at most `timeout` seconds after it started.
    """
    argv = [sys.executable, "-c", code] if isinstance(code, str) else [sys.executable, *code]
    child_env = dict(os.environ, PYTHONUNBUFFERED="1")
    if env:
        child_env.update(env)
    started = time.monotonic()
    deadline = started + timeout
    with _sigint_not_ignored():
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env,
            start_new_session=True,  # its own group: a kill takes its children too
        )
    out: list[str] = []
    err: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, lines, out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, queue.Queue(), err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    missed: list[str] = []
    hung = False
    try:
        seen: list[str] = []
        for index, (marker, delay) in enumerate(interrupts):
            while not any(marker in line for line in seen):
                remaining = deadline - time.monotonic()
                try:
                    line = lines.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    line = None
                if line is None:  # EOF or out of time
                    missed.extend(m for m, _ in interrupts[index:])
                    break
                seen.append(line)
            if missed:
                break
            if delay:
                time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signum)
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            hung = True
            if os.environ.get("FAULTS_DUMP_ON_HANG"):
                # scenario.py prints its Trio and asyncio tasks on SIGUSR2.
                os.kill(proc.pid, signal.SIGUSR2)
                time.sleep(1)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:
            # The child is gone; anything it started in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return ChildResult(
        proc.returncode, "".join(out), "".join(err), hung, time.monotonic() - started, missed
    )
