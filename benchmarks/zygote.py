"""A fork server: starts workers as forks of an interpreter that imported only
asyncio (and, for the Trio-based implementations, trio).

Starting a fresh interpreter and importing trio takes 0.2-0.5 s, more than
most measurements; a fork takes a few milliseconds and still gives each
measurement a process of its own, in which nothing has run and only the one
implementation measured gets imported (uvloop, trio-asyncio, aiotrio are all
imported after the fork).

Protocol: ``zygote.py PRELOAD...`` reads one JSON request per line on stdin,
``{"args": [...], "env": {...}, "timeout": s}``, and answers each with one
JSON line on stdout: the worker's answer, or ``{"error": ...}``.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
import time
import traceback


def _child(args: list[str], env: dict[str, str], out: int) -> None:
    """Runs in the fork: do the measurement, write the answer, never return."""
    status = 0
    try:
        os.environ.update(env)
        import worker  # after the fork: worker imports the benchmark modules

        answer = worker.answer(args)
    except BaseException as exc:
        traceback.print_exc()
        answer = {"error": f"{type(exc).__name__}: {exc}"}
        status = 1
    try:
        os.write(out, json.dumps(answer).encode())
    finally:
        os._exit(status)


def _read_all(fd: int, pid: int, timeout: float) -> bytes | None:
    """The child's answer, or None if it took longer than `timeout`."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            os.kill(pid, signal.SIGKILL)
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(request["args"], request["env"], write_end)
        os.close(write_end)
        raw = _read_all(read_end, pid, request["timeout"])
        os.close(read_end)
        os.waitpid(pid, 0)
        if raw is None:
            answer = {"error": f"timed out after {request['timeout']:g} s"}
        elif not raw:
            answer = {"error": "the worker died without answering"}
        else:
            answer = json.loads(raw)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        importlib.import_module(name)
    serve()
