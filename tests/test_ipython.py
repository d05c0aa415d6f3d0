"""``%load_ext aiotrio`` in a real IPython process and in a real Jupyter kernel.

Both run in subprocesses with hard timeouts: IPython reads cells from a pipe
(``--simple-prompt``) and gets a real SIGINT; the kernel is ipykernel, driven
through jupyter_client, interrupted with ``interrupt_kernel()`` (a SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import pytest

import aiotrio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

pytest.importorskip("IPython", reason="IPython is not installed (the `ipython` extra)")

TIMEOUT = 30

# A ticker in each world, started in the background from one cell: they must
# go on ticking in the next cells, across an interrupted cell.
DEFINE_TICKERS = """\
import asyncio, trio, aiotrio
ticks = {"asyncio": 0, "trio": 0}
async def asyncio_ticker():
    while True:
        ticks["asyncio"] += 1
        await asyncio.sleep(0.001)
async def trio_ticker():
    while True:
        ticks["trio"] += 1
        await trio.sleep(0.001)
"""


def test_importing_aiotrio_does_not_import_ipython() -> None:
    code = "import aiotrio, sys; print('IPython' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert result.stdout.strip() == "False"


# -- terminal IPython, through a pipe ---------------------------------------------------


class IPythonProcess:
    """``ipython --simple-prompt`` reading cells from a pipe, one line of output at a time."""

    def __init__(self, tmp_path: Path) -> None:
        env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "IPython",
                "--simple-prompt",
                "--no-banner",
                "--colors=nocolor",
                "--HistoryManager.enabled=False",
                "--TerminalInteractiveShell.confirm_exit=False",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        self.seen: list[str] = []
        # Lines arrive through a thread, so that each wait has a timeout.
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def send(self, cell: str) -> None:
        """Send a cell (a blank line ends a block), then a marker line."""
        assert self.process.stdin is not None
        self.process.stdin.write(textwrap.dedent(cell) + "\n\n")
        self.process.stdin.flush()

    def expect(self, pattern: str) -> re.Match[str]:
        """Read lines until one matches `pattern`; fail after TIMEOUT seconds."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(
                    f"no {pattern!r} in {TIMEOUT} s; output:\n{''.join(self.seen)}"
                ) from None
            if not line:
                raise AssertionError(
                    f"IPython exited before {pattern!r}; output:\n{''.join(self.seen)}"
                )
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def close(self) -> str:
        """End IPython (EOF on its input, killed if it has not exited in time)."""
        assert self.process.stdin is not None
        if self.process.stdin.closed:
            return "".join(self.seen)
        self.process.stdin.close()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join()
        assert self.process.stdout is not None
        self.process.stdout.close()
        while (line := self.lines.get()) != "":
            self.seen.append(line)
        return "".join(self.seen)


@pytest.fixture
def ipython(tmp_path: Path) -> Iterator[IPythonProcess]:
    process = IPythonProcess(tmp_path)
    try:
        yield process
    finally:
        process.close()


def test_ipython_tasks_persist_across_cells_and_interrupts(ipython: IPythonProcess) -> None:
    ipython.send("%load_ext aiotrio")
    ipython.send(DEFINE_TICKERS)
    ipython.send("t = background.create_task(asyncio_ticker()); background.start_soon(trio_ticker)")
    # A cell with await: ticks were counted before it and go on during it.
    ipython.send("before = dict(ticks); await asyncio.sleep(0.05); print('ASYNCIO', before, ticks)")
    match = ipython.expect(r"ASYNCIO (\{.*\}) (\{.*\})")
    before, after = eval(match[1]), eval(match[2])
    assert after["asyncio"] > before["asyncio"]
    assert after["trio"] > before["trio"]

    # Ctrl-C cancels the cell that awaits, not the background tasks.
    # Printed by a callback, so only once the cell is parked in its await.
    ipython.send(
        "asyncio.get_running_loop().call_soon(print, 'WAITING'); await asyncio.sleep(1000)"
    )
    ipython.expect("WAITING")
    ipython.process.send_signal(signal.SIGINT)
    ipython.expect("CancelledError")
    ipython.send("n = dict(ticks); await asyncio.sleep(0.05); print('AFTER', n, ticks, t.done())")
    match = ipython.expect(r"AFTER (\{.*\}) (\{.*\}) (\w+)")
    assert eval(match[2])["asyncio"] > eval(match[1])["asyncio"]
    assert eval(match[2])["trio"] > eval(match[1])["trio"]
    assert match[3] == "False"

    # Trio mode: the cell is a Trio task; Ctrl-C in a busy cell raises there.
    ipython.send("%aiotrio trio")
    ipython.expect("await-cells run as trio tasks")
    ipython.send(
        """\
        if True:
            await trio.lowlevel.checkpoint()
            print('BUSY')
            while True: pass
        """
    )
    ipython.expect("BUSY")
    ipython.process.send_signal(signal.SIGINT)
    ipython.expect("KeyboardInterrupt")
    ipython.send("n = dict(ticks); await trio.sleep(0.05); print('TRIO', n, ticks)")
    match = ipython.expect(r"TRIO (\{.*\}) (\{.*\})")
    assert eval(match[2])["asyncio"] > eval(match[1])["asyncio"]
    assert eval(match[2])["trio"] > eval(match[1])["trio"]

    # The session's task tree: the cells' loop, the tickers in both worlds.
    ipython.send("%aiotrio tree")
    ipython.expect(r"Trio task .*trio_ticker")
    ipython.send("%unload_ext aiotrio")
    ipython.send("print('CLOSED', t.done(), t.cancelled())")
    ipython.expect("CLOSED True True")
    output = ipython.close()
    assert ipython.process.returncode == 0, output
    assert "Traceback" not in output.split("KeyboardInterrupt")[-1], output


# -- a Jupyter kernel (ipykernel), through jupyter_client ------------------------------


class Kernel:
    """A real ipykernel process and an async client; `execute` returns (status, outputs).

    jupyter_client's async API, run with ``asyncio.run`` on an aiotrio loop:
    its blocking API leaves an event loop of its own open in the process.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.manager_module = pytest.importorskip(
            "jupyter_client.manager", reason="jupyter_client is not installed (the `ipython` extra)"
        )
        pytest.importorskip("ipykernel", reason="ipykernel is not installed (the `ipython` extra)")
        self.env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "IPYTHONDIR": str(tmp_path / "ipython"),
        }

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Kernel]:
        self.manager, self.client = await self.manager_module.start_new_async_kernel(
            startup_timeout=TIMEOUT, env=self.env
        )
        try:
            yield self
        finally:
            self.client.stop_channels()
            await self.manager.shutdown_kernel(now=False)
            self.manager.context.term()

    async def execute(self, code: str) -> tuple[str, list[tuple[str, str]]]:
        outputs: list[tuple[str, str]] = []

        def on_output(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                outputs.append((kind, content["text"]))
            elif kind == "execute_result":
                outputs.append((kind, content["data"]["text/plain"]))
            elif kind == "error":
                outputs.append((kind, content["ename"]))

        reply = await self.client.execute_interactive(code, timeout=TIMEOUT, output_hook=on_output)
        return reply["content"]["status"], outputs

    async def interrupt_when_printed(self, code: str, marker: str) -> tuple[str, str | None]:
        """Run `code`, interrupt the kernel once it prints `marker`; the reply's status, ename."""
        # stop_on_error=False: after an error reply ipykernel aborts the requests
        # that reach it before it has processed its own "stop aborting" message,
        # which the next cell's request may do.
        msg_id = self.client.execute(code, stop_on_error=False)
        while True:
            message = await self.client.get_iopub_msg(timeout=TIMEOUT)
            if message["msg_type"] == "stream" and marker in message["content"]["text"]:
                break
        await self.manager.interrupt_kernel()
        while True:
            reply = await self.client.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]["status"], reply["content"].get("ename")


def ticks_grew(outputs: list[tuple[str, str]]) -> tuple[bool, bool]:
    """From the result ``(before, after)`` of two `ticks` dicts: did each ticker tick?"""
    results = [text for kind, text in outputs if kind == "execute_result"]
    assert results, outputs
    before, after = eval(results[-1])
    return after["asyncio"] > before["asyncio"], after["trio"] > before["trio"]


def test_kernel_tasks_persist_across_cells_and_interrupts(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        runner.run(kernel_scenario(kernel))


async def kernel_scenario(kernel: Kernel) -> None:
    async with kernel.started():
        assert await kernel.execute("%load_ext aiotrio") == ("ok", [])
        assert (await kernel.execute(DEFINE_TICKERS))[0] == "ok"
        status, _ = await kernel.execute(
            "t = background.create_task(asyncio_ticker()); background.start_soon(trio_ticker)"
        )
        assert status == "ok"
        status, outputs = await kernel.execute(
            "print('hello'); n = dict(ticks); await asyncio.sleep(0.05); n, dict(ticks)"
        )
        assert status == "ok"
        assert ("stream", "hello\n") in outputs
        assert ticks_grew(outputs) == (True, True)

        # The interrupt cancels the awaiting cell (asyncio mode: CancelledError).
        assert await kernel.interrupt_when_printed(
            "asyncio.get_running_loop().call_soon(print, 'PARKED'); await asyncio.sleep(1000)",
            "PARKED",
        ) == ("error", "CancelledError")
        _, outputs = await kernel.execute(
            "n = dict(ticks); await asyncio.sleep(0.05); n, dict(ticks)"
        )
        assert ticks_grew(outputs) == (True, True)

        # Trio mode: an awaiting Trio cell is cancelled (trio.Cancelled), a
        # busy one gets KeyboardInterrupt; the tickers survive both.
        assert (await kernel.execute("%aiotrio trio"))[0] == "ok"
        assert await kernel.interrupt_when_printed(
            "async def announce():\n    print('PARKED')\n"
            "background.start_soon(announce)\nawait trio.sleep(1000)",
            "PARKED",
        ) == ("error", "Cancelled")
        assert await kernel.interrupt_when_printed(
            "await trio.lowlevel.checkpoint()\nprint('BUSY')\nwhile True: pass", "BUSY"
        ) == ("error", "KeyboardInterrupt")
        status, outputs = await kernel.execute(
            "n = dict(ticks); await trio.sleep(0.05); n, dict(ticks)"
        )
        assert status == "ok"
        assert ticks_grew(outputs) == (True, True)
        assert await kernel.execute("t.done()") == ("ok", [("execute_result", "False")])


# -- the docs' session -----------------------------------------------------------------

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "how-to", "ipython.md")

RUN_DOC_CELLS = """\
import re, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
with open(sys.argv[1], encoding="utf-8") as file:
    cells = re.findall(r"```ipython\\n(.*?)```", file.read(), re.DOTALL)
for cell in cells:
    if not shell.run_cell(cell).success:
        sys.exit(f"cell failed: {cell!r}")
print(f"{len(cells)} cells ran")
"""


def test_docs_session_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN_DOC_CELLS, DOC],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("8 cells ran\n"), result.stdout
    # %aiotrio tree showed the two heartbeats, each in its world.
    assert "Trio task __main__.trio_heartbeat" in result.stdout
    assert "at asyncio_heartbeat (" in result.stdout
