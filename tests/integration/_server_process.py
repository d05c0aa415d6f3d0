"""A server run as a child process, for tests that talk to it over loopback.

Its stdout and stderr are read, merged, line by line by a thread, so a test
waits for a log line (``wait_for``) with a deadline instead of sleeping; the
process is killed and reaped when the ``with`` block ends, whatever happened.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

#: How long a server may take to start or to log a line on a loaded machine.
LOG_TIMEOUT = 30.0


class ServerProcess:
    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.args = list(args)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        self._reader = threading.Thread(target=self._read, name="server-log-reader")
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = LOG_TIMEOUT) -> re.Match[str]:
        """The match of the next log line that `pattern` matches (``re.search``).

        Fails if the process exits first or no such line comes within `timeout`.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0))
            except queue.Empty:
                raise AssertionError(
                    f"no log line matching {pattern!r} within {timeout} s; log so far:\n{self.log}"
                ) from None
            if line is None:
                self._queue.put(None)  # later calls see the end too
                raise AssertionError(
                    f"the server exited ({self.process.wait()}) before logging {pattern!r}; "
                    f"log:\n{self.log}"
                )
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float = LOG_TIMEOUT) -> int:
        """Wait for the process to exit by itself; read the rest of its log; its exit code."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the server did not exit within {timeout} s; log:\n{self.log}"
            ) from None
        self._reader.join(timeout)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        self._queue.put(None)
        return returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=LOG_TIMEOUT)
        self._reader.join(LOG_TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def assert_clean_log(lines: Sequence[str]) -> None:
    """No traceback, warning or error in a server's log."""
    bad = [line for line in lines if re.search(r"Traceback|Warning|WARNING|ERROR|Exception", line)]
    assert not bad, "the server logged problems:\n" + "\n".join(lines)
