"""`aiotrio.task_tree()` and `format_task_tree()`: both worlds and the bridges between.

The scenes are real programs parked in known places (`wait_all_tasks_blocked`),
read in process; a hung program in a subprocess prints its tree on SIGUSR1;
``python -m asyncio ps/pstree`` (3.14+) reads an aiotrio program from outside.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import aiotrio

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TIMEOUT = 30


async def trio_child(event: trio.Event) -> None:
    await event.wait()


async def asyncio_side(event: trio.Event) -> None:
    await aiotrio.run_trio(trio_child, event)


async def asyncio_sleeper() -> None:
    await asyncio.sleep(100)


async def asyncio_parent() -> None:
    # An asyncio task awaiting another asyncio task.
    await asyncio.create_task(asyncio_sleeper(), name="sleeper")


async def scene(check: Any) -> None:
    """asyncio -> Trio (run_trio) and Trio -> asyncio (run_asyncio), all parked."""
    event = trio.Event()
    async with aiotrio.open_loop() as loop, trio.open_nursery() as nursery:
        nursery.start_soon(aiotrio.run_asyncio, asyncio_side, event, name="trio-to-asyncio")
        nursery.start_soon(aiotrio.run_asyncio, asyncio_parent, name="trio-to-parent")
        await trio.testing.wait_all_tasks_blocked()
        check(loop)
        nursery.cancel_scope.cancel()


def by_name(tree: aiotrio.TaskTree) -> dict[str, aiotrio.TrioTaskInfo]:
    return {info.name: info for info in tree.trio_tasks()}


def test_task_tree_data() -> None:
    def check(loop: aiotrio.EventLoop) -> None:
        tree = aiotrio.task_tree()
        trio_tasks = by_name(tree)
        child = trio_tasks[f"{__name__}.trio_child"]
        assert any(frame.function == "trio_child" for frame in child.stack)

        # The loop hangs off the Trio task that serves it, with its asyncio tasks.
        [loop_info] = tree.loops
        assert loop_info.loop is loop
        server = next(info for info in tree.trio_tasks() if info.loop is loop_info)
        assert child in [task for nursery in server.nurseries for task in nursery.tasks]
        tasks = {info.task.get_coro().__name__: info for info in loop_info.tasks}  # type: ignore[union-attr]
        assert set(tasks) == {"asyncio_side", "asyncio_parent", "asyncio_sleeper"}
        assert tasks["asyncio_side"].stack[0].function == "asyncio_side"
        assert tasks["asyncio_sleeper"].stack[0].function == "asyncio_sleeper"
        assert tasks["asyncio_sleeper"].stack[-1].function == "sleep"
        assert tasks["asyncio_sleeper"].awaited_by == [tasks["asyncio_parent"].name]
        assert tasks["asyncio_parent"].waits_on == "asyncio task sleeper"
        assert tasks["asyncio_side"].waits_on == f"run_trio: Trio task {child.name}"

        # The bridges, both ways.
        side, parent = tasks["asyncio_side"].task, tasks["asyncio_parent"].task
        [run_trio_edge] = [edge for edge in tree.bridges if edge.kind == "run_trio"]
        assert run_trio_edge.trio_task is child.task
        assert run_trio_edge.asyncio_task is side
        run_asyncio_edges = {
            edge.trio_task.name: edge.asyncio_task
            for edge in tree.bridges
            if edge.kind == "run_asyncio"
        }
        assert run_asyncio_edges == {"trio-to-asyncio": side, "trio-to-parent": parent}

    trio.run(scene, check)


def test_format_task_tree() -> None:
    texts: list[str] = []
    trio.run(scene, lambda loop: texts.append(aiotrio.format_task_tree()))
    [text] = texts
    lines = text.splitlines()
    assert lines[0].startswith("Trio run: ")
    assert lines[1] == "└── Trio task <init>"

    def line_of(fragment: str) -> str:
        """The one line that has `fragment`."""
        [line] = [line for line in lines if fragment in line]
        return line

    def node_line(start: str) -> str:
        """The one node line (task, loop, nursery) that starts with `start`."""
        [line] = [line for line in lines if line.split("── ", 1)[-1].startswith(start)]
        return line

    # asyncio_side's task waits in run_trio on trio_child, which runs for it.
    side_line = line_of(f"-- waits on run_trio: Trio task {__name__}.trio_child")
    side_name = side_line.split("asyncio task ")[1].split(" --")[0]
    assert node_line(f"Trio task {__name__}.trio_child").endswith(
        f"-- run_trio for asyncio task {side_name}"
    )
    assert f"Trio task trio-to-asyncio -- waits in run_asyncio on asyncio task {side_name}" in text
    assert "-- waits on asyncio task sleeper" in text
    assert "asyncio task sleeper -- waits on Future -- awaited by asyncio task " in text
    assert "Trio task trio-to-asyncio -- waits in run_asyncio on asyncio task " in text
    assert node_line("aiotrio loop <EventLoop running=True").endswith(": 3 asyncio tasks")
    # Await chains under their tasks; internal frames left out unless asked for.
    assert "at trio_child (" in text
    assert "at asyncio_sleeper (" in text
    assert "_traps.py" not in text
    assert "_traps.py" in aiotrio.format_task_tree(_tree_of_scene(), internal_frames=True)


def _tree_of_scene() -> aiotrio.TaskTree:
    trees: list[aiotrio.TaskTree] = []
    trio.run(scene, lambda loop: trees.append(aiotrio.task_tree()))
    return trees[0]


def test_task_tree_in_a_hosted_loop() -> None:
    """asyncio.run() on aiotrio: the loop's run is the tree; the caller is in it."""

    async def main() -> str:
        return aiotrio.format_task_tree()

    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        text = runner.run(main())
    assert "aiotrio loop <EventLoop running=True" in text
    assert "main (" in text


def test_task_tree_outside_trio() -> None:
    with pytest.raises(RuntimeError, match=r"task_tree\(\) must be called in a Trio run"):
        aiotrio.task_tree()


# -- a hung program, from outside ------------------------------------------------------

HUNG_PROGRAM = """\
import asyncio, signal, sys, trio, trio.testing, aiotrio
signal.signal(signal.SIGUSR1, lambda *_: print(aiotrio.format_task_tree(), file=sys.stderr))

async def trio_side(event):
    await event.wait()  # never set: the program hangs here

async def asyncio_side(event):
    await aiotrio.run_trio(trio_side, event)

async def main():
    async with aiotrio.open_loop():
        event = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(aiotrio.run_asyncio, asyncio_side, event)
            await trio.testing.wait_all_tasks_blocked()
            print("READY", flush=True)

trio.run(main)
"""


@pytest.fixture
def hung_program(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    path = tmp_path / "hung.py"
    path.write_text(HUNG_PROGRAM)
    process = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "READY\n"
        yield process
    finally:
        process.kill()
        process.communicate(timeout=TIMEOUT)


def test_signal_handler_dumps_a_hung_programs_tree(
    hung_program: subprocess.Popen[str],
) -> None:
    hung_program.send_signal(signal.SIGUSR1)
    assert hung_program.stderr is not None
    lines = []
    while not lines or lines[-1] != "\n":  # the tree ends with a blank line
        line = hung_program.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    text = "".join(lines)
    assert text.startswith("Trio run: ")
    assert "asyncio task Task-1 -- waits on run_trio: Trio task __main__.trio_side" in text
    assert "Trio task __main__.trio_side -- run_trio for asyncio task Task-1" in text
    assert "at trio_side (hung.py:5)" in text
    assert "-- waits in run_asyncio on asyncio task Task-1" in text
    assert hung_program.poll() is None  # still running: the handler only printed


@pytest.mark.skipif(sys.version_info < (3, 14), reason="python -m asyncio ps/pstree is new in 3.14")
@pytest.mark.parametrize("command", ["ps", "pstree"])
def test_python_m_asyncio_ps_reads_an_aiotrio_program(
    hung_program: subprocess.Popen[str], command: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asyncio", command, str(hung_program.pid)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode != 0 and "ermission" in result.stderr + result.stdout:
        pytest.skip(f"no permission to read another process's memory: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert "Task-1" in result.stdout
    assert "asyncio_side" in result.stdout


def test_console_prints_the_task_tree() -> None:
    """``python -m aiotrio``: a statement prints the tree it runs in."""
    result = subprocess.run(
        [sys.executable, "-m", "aiotrio"],
        input="await asyncio.sleep(0); print(aiotrio.format_task_tree())\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "aiotrio loop <EventLoop running=True" in result.stdout
    # The statement is an asyncio task of that loop; the console's reader a Trio thread call.
    assert "at <module> (<stdin>:1)" in result.stdout


# -- the docs' examples ----------------------------------------------------------------

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "how-to", "task-tree.md")


def _fenced(kind: str) -> list[str]:
    with open(DOC, encoding="utf-8") as file:
        return re.findall(rf"```{kind}\n(.*?)```", file.read(), re.DOTALL)


def _without_line_numbers(text: str) -> str:
    return re.sub(r":\d+\)", ":N)", text)


def test_docs_example_prints_the_tree_shown(tmp_path: Path) -> None:
    example, _ = _fenced("python")
    shown = _fenced("text")[0]
    (tmp_path / "example.py").write_text(example)
    result = subprocess.run(
        [sys.executable, "example.py"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _without_line_numbers(result.stdout) == _without_line_numbers(shown) + "\n"


def test_docs_signal_example_prints_the_tree(tmp_path: Path) -> None:
    _, example = _fenced("python")
    (tmp_path / "example.py").write_text(example)
    result = subprocess.run(
        [sys.executable, "example.py"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Trio run: ")
    assert "aiotrio loop <EventLoop running=True" in result.stderr
