"""Starting worker processes: forks of a pre-imported zygote, or new interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from impls import WITH_TRIO

HERE = Path(__file__).resolve().parent
TIMEOUT = 120.0


def _preload(impl: str) -> tuple[str, ...]:
    """What a zygote may import before forking a worker for `impl`."""
    return ("asyncio", "trio") if impl in WITH_TRIO else ("asyncio",)


class Launcher:
    """Runs ``worker.answer(args)`` in a fresh process, timed; use as a context."""

    def __init__(self, env: dict[str, str], log: IO[str]) -> None:
        self._env = env
        self._log = log
        self._zygotes: dict[tuple[str, ...], subprocess.Popen[str]] = {}

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        for zygote in self._zygotes.values():
            assert zygote.stdin is not None
            zygote.stdin.close()
            zygote.wait()

    def run(self, args: list[str], impl: str, *, spawn: bool = False) -> dict[str, Any]:
        """The worker's answer plus "wall" (seconds), or {"error": ...}."""
        started = time.monotonic()
        answer = self._spawn(args) if spawn else self._fork(args, impl)
        answer["wall"] = time.monotonic() - started
        return answer

    def _python(self) -> list[str]:
        return [sys.executable, "-W", "ignore"]

    def _spawn(self, args: list[str]) -> dict[str, Any]:
        try:
            proc = subprocess.run(
                [*self._python(), str(HERE / "worker.py"), *args],
                check=False,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                timeout=TIMEOUT,
                env={**os.environ, **self._env},
                cwd=HERE,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {TIMEOUT:g} s"}
        if proc.returncode != 0:
            return {"error": f"exit code {proc.returncode} (see the log)"}
        answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return answer

    def _fork(self, args: list[str], impl: str) -> dict[str, Any]:
        preload = _preload(impl)
        zygote = self._zygotes.get(preload)
        if zygote is None or zygote.poll() is not None:
            zygote = self._zygotes[preload] = subprocess.Popen(
                [*self._python(), str(HERE / "zygote.py"), *preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                env={**os.environ, **self._env},
                cwd=HERE,
            )
        assert zygote.stdin is not None and zygote.stdout is not None
        request = {"args": args, "env": self._env, "timeout": TIMEOUT}
        zygote.stdin.write(json.dumps(request) + "\n")
        zygote.stdin.flush()
        line = zygote.stdout.readline()
        if not line:
            return {"error": "the zygote died (see the log)"}
        answer: dict[str, Any] = json.loads(line)
        return answer
