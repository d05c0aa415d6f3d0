"""Every code snippet in README.md and docs/ runs, so none can rot.

Each fenced block of README.md and docs/**/*.md is one test, named by its
file and line:

- ```python: run as a script, ``python -W error snippet.py`` in an empty
  directory; it must exit 0 with nothing on stderr. A block that defines
  ``test_*`` functions is a test file instead: pytest runs it (``-W error``)
  and every test in it must pass. Such a block may request these fixtures,
  which this module provides: ``url`` (an HTTP server on loopback answering
  ``GET /`` with 200 and ``hello``) and ``server_address`` (its host, port).
- ```pycon: typed into ``python -m aiotrio`` (the console, so top-level
  ``await`` works); its output must be what the block shows. For a
  traceback the block shows, the exception line must be on stderr.
- ```ini with a ``[pytest]`` section: the ini file of a pytest run of a small
  pytest-asyncio test, which must pass and must have run on an aiotrio loop.
- Other languages (console, sh, text) are not run.

Markers, HTML comments on the lines directly above a fence:

- ``<!-- snippet: skip (REASON) -->``: not run; the reason is required.
- ``<!-- snippet: continues -->``: the block continues the page's previous
  python block, which runs first, in the same file.
- ``<!-- snippet: requires (python >= 3.12) -->``: skipped on older Pythons.
- ``<!-- snippet: stderr (REASON) -->``: a script that writes to stderr on
  purpose (it shows what asyncio logs, say); it must still exit 0.
- ``<!-- snippet: conftest (asyncio) -->`` (or ``anyio``): the block is a
  ``conftest.py``; pytest runs it with a small pytest-asyncio (or anyio)
  test, which must pass, and must have run on an aiotrio loop.

Each run has a hard timeout, and runs with the environment's
``AIOTRIO_READINESS``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 40

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<lang>[\w-]*)[ \t]*$")
_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<word>[\w-]+)\s*(?:\((?P<arg>.*)\))?\s*-->\s*$")
_REQUIRES = re.compile(r"^python\s*>=\s*(?P<major>\d+)\.(?P<minor>\d+)$")
_TEST_FUNCTION = re.compile(r"^\s*(async\s+)?def\s+test_", re.MULTILINE)


@dataclass
class Snippet:
    path: str
    line: int
    lang: str
    code: str
    skip: str | None = None
    requires: tuple[int, int] | None = None
    error: str | None = None
    prefix: list[str] = field(default_factory=list)
    conftest_for: str | None = None
    stderr_because: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def runnable_code(self) -> str:
        return "\n".join([*self.prefix, self.code])


def documents() -> list[Path]:
    docs = [p for p in sorted((REPO / "docs").rglob("*.md")) if "_build" not in p.parts]
    return [REPO / "README.md", *docs]


def parse(text: str, path: str) -> list[Snippet]:
    """The fenced blocks of Markdown `text`, with their markers applied."""
    lines = text.splitlines()
    snippets: list[Snippet] = []
    previous_python: Snippet | None = None
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening or not opening["lang"]:
            i += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"]
        end = i + 1
        while end < len(lines) and not re.match(rf"^{re.escape(indent)}{fence}\s*$", lines[end]):
            end += 1
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        snippet = Snippet(path, i + 1, "python" if lang == "py" else lang, "\n".join(body) + "\n")
        _apply_markers(snippet, lines, i, previous_python)
        snippets.append(snippet)
        if snippet.lang == "python":
            previous_python = snippet
        i = end + 1
    return snippets


def _apply_markers(
    snippet: Snippet, lines: list[str], fence_index: int, previous: Snippet | None
) -> None:
    j = fence_index - 1
    while j >= 0 and lines[j].lstrip().startswith("<!--"):
        marker = _MARKER.match(lines[j])
        if marker is None:
            snippet.error = f"line {j + 1}: not a snippet marker: {lines[j].strip()!r}"
            return
        word, arg = marker["word"], (marker["arg"] or "").strip()
        if word == "skip":
            if not arg:
                snippet.error = f"line {j + 1}: a skip marker needs its reason: skip (REASON)"
                return
            snippet.skip = arg
        elif word == "continues":
            if previous is None:
                snippet.error = f"line {j + 1}: 'continues', but no python block comes before"
                return
            snippet.prefix = [*previous.prefix, previous.code]
        elif word == "requires" and (version := _REQUIRES.match(arg)):
            snippet.requires = (int(version["major"]), int(version["minor"]))
        elif word == "stderr":
            if not arg:
                snippet.error = f"line {j + 1}: a stderr marker needs its reason: stderr (REASON)"
                return
            snippet.stderr_because = arg
        elif word == "conftest" and arg in _LOOP_TESTS:
            snippet.conftest_for = arg
        else:
            snippet.error = f"line {j + 1}: unknown snippet marker {lines[j].strip()!r}"
            return
        j -= 1


def all_snippets() -> list[Snippet]:
    found: list[Snippet] = []
    for doc in documents():
        found += parse(doc.read_text(), str(doc.relative_to(REPO)))
    return [s for s in found if s.lang in ("python", "pycon", "ini") or s.error]


def _params() -> list[object]:
    return [pytest.param(s, id=s.id) for s in all_snippets()]


# -- running them -------------------------------------------------------------------

_CONFTEST = """
import http.server
import threading

import pytest


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server_address():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def url(server_address):
    host, port = server_address
    return f"http://{host}:{port}/"
"""

_LOOP_TEST = """
import asyncio
import json

import pytest

import aiotrio


@pytest.mark.{mark}
async def test_which_loop():
    loop = asyncio.get_running_loop()
    with open("loops.jsonl", "a") as log:
        log.write(json.dumps(isinstance(loop, aiotrio.EventLoop)) + "\\n")
"""

#: The sample test a conftest snippet is run with, by the marker's argument.
_LOOP_TESTS = {
    "asyncio": _LOOP_TEST.format(mark="asyncio"),
    "anyio": _LOOP_TEST.format(mark="anyio"),
}


#: pytest as the snippets run it; the loop scope option only keeps pytest-asyncio
#: from warning that it is unset (an error under -W error).
PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-W",
    "error",
    "-p",
    "no:cacheprovider",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
]


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _report(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"


def run_script(snippet: Snippet, tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(snippet.runnable_code)
    done = _run([sys.executable, "-W", "error", "snippet.py"], tmp_path)
    assert done.returncode == 0, _report(done)
    if snippet.stderr_because is None:
        assert done.stderr == "", _report(done)


def run_pytest_file(snippet: Snippet, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_snippet.py").write_text(snippet.runnable_code)
    done = _run(PYTEST, tmp_path)
    assert done.returncode == 0, _report(done)
    assert re.search(r"\b\d+ passed\b", done.stdout), done.stdout
    assert not re.search(r"\b(failed|error|errors|skipped|xfailed)\b", done.stdout.splitlines()[-1])


def console_script(code: str) -> tuple[str, list[str], list[str]]:
    """What to type, the output lines to expect, the exception lines to expect."""
    typed: list[str] = []
    output: list[str] = []
    exceptions: list[str] = []
    in_traceback = False
    for line in code.splitlines():
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            typed.append(line[4:])
            in_traceback = False
        elif line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and (line[:1].isspace() or line == "..."):
            continue
        elif in_traceback:
            exceptions.append(line)
            in_traceback = False
        elif line.strip():
            output.append(line)
    return "\n".join(typed) + "\n", output, exceptions


_CHAINED = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)


def console_stderr(stderr: str) -> tuple[list[str], list[str]]:
    """The exception lines of the tracebacks on the console's stderr, and any other lines.

    The banner (up to the 'Type "help"' line, and the imports it shows) and the
    farewell line are neither.
    """
    lines = stderr.splitlines()
    banner_end = next((i for i, line in enumerate(lines) if line.startswith('Type "help"')), -1)
    quiet = {"exiting aiotrio console...", ">>> import asyncio, trio, aiotrio"}
    lines = [line for line in lines[banner_end + 1 :] if line not in quiet]
    exceptions: list[str] = []
    other: list[str] = []
    in_traceback = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line[:1].isspace():
            continue
        elif in_traceback:
            exceptions.append(line)
            in_traceback = False
        elif line.strip() and line not in _CHAINED:
            other.append(line)
    return exceptions, other


def run_console(snippet: Snippet, tmp_path: Path) -> None:
    typed, output, exceptions = console_script(snippet.code)
    done = _run([sys.executable, "-W", "error", "-m", "aiotrio"], tmp_path, stdin=typed)
    assert done.returncode == 0, done.stderr
    seen = [re.sub(r"^((>>>|\.\.\.) ?)+", "", line) for line in done.stdout.splitlines()]
    assert [line for line in seen if line.strip()] == output, done.stderr
    raised, other = console_stderr(done.stderr)
    assert other == [], done.stderr
    # The last exception of each chain is the one the block shows.
    assert [line for line in exceptions if line not in raised] == [], done.stderr
    assert len(raised) >= len(exceptions), done.stderr
    if not exceptions:
        assert raised == [], done.stderr


def _run_loop_test(tmp_path: Path, test: str) -> list[bool]:
    """Run `test` (a _LOOP_TEST) with pytest: whether each run was on an aiotrio loop."""
    (tmp_path / "test_loops.py").write_text(test)
    done = _run(PYTEST, tmp_path)
    assert done.returncode == 0, _report(done)
    return [line == "true" for line in (tmp_path / "loops.jsonl").read_text().split()]


def run_pytest_ini(snippet: Snippet, tmp_path: Path) -> None:
    assert "[pytest]" in snippet.code, "an ini block that is not pytest's: mark it skip (REASON)"
    (tmp_path / "pytest.ini").write_text(snippet.code)
    ran_on = _run_loop_test(tmp_path, _LOOP_TESTS["asyncio"])
    assert True in ran_on, f"no test ran on an aiotrio loop: {ran_on}"


def run_conftest(snippet: Snippet, tmp_path: Path) -> None:
    assert snippet.conftest_for is not None
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(snippet.runnable_code)
    ran_on = _run_loop_test(tmp_path, _LOOP_TESTS[snippet.conftest_for])
    assert ran_on and all(ran_on), f"not every test ran on an aiotrio loop: {ran_on}"


@pytest.mark.parametrize("snippet", _params())
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    if snippet.error:
        pytest.fail(f"{snippet.id}: {snippet.error}", pytrace=False)
    if snippet.skip:
        pytest.skip(f"{snippet.id}: marked in the docs: {snippet.skip}")
    if snippet.requires and sys.version_info < snippet.requires:
        pytest.skip("{}: needs Python {}.{}".format(snippet.id, *snippet.requires))
    if snippet.lang == "pycon":
        run_console(snippet, tmp_path)
    elif snippet.lang == "ini":
        run_pytest_ini(snippet, tmp_path)
    elif snippet.conftest_for:
        run_conftest(snippet, tmp_path)
    elif _TEST_FUNCTION.search(snippet.runnable_code):
        run_pytest_file(snippet, tmp_path)
    else:
        run_script(snippet, tmp_path)


# -- the rules themselves -----------------------------------------------------------


def _one(markdown: str) -> Snippet:
    (snippet,) = parse(textwrap.dedent(markdown), "page.md")
    return snippet


def test_skip_needs_a_reason() -> None:
    assert _one("<!-- snippet: skip (needs a server) -->\n```python\nx\n```\n").skip == (
        "needs a server"
    )
    for marker in ("<!-- snippet: skip -->", "<!-- snippet: skip () -->"):
        snippet = _one(f"{marker}\n```python\nx\n```\n")
        assert snippet.skip is None
        assert snippet.error and "needs its reason" in snippet.error


def test_stderr_marker_needs_a_reason() -> None:
    marked = _one("<!-- snippet: stderr (logs on purpose) -->\n```python\nx\n```\n")
    assert marked.stderr_because == "logs on purpose"
    assert "needs its reason" in (_one("<!-- snippet: stderr -->\n```python\nx\n```\n").error or "")


def test_unknown_markers_are_errors() -> None:
    for marker in ("<!-- snippet: skipp (x) -->", "<!-- snippet: requires (py3) -->", "<!-- x -->"):
        assert _one(f"{marker}\n```python\nx\n```\n").error


def test_continues_and_requires() -> None:
    first, second = parse(
        "```python\na = 1\n```\n\ntext\n\n<!-- snippet: continues -->\n"
        "<!-- snippet: requires (python >= 3.12) -->\n```python\nprint(a)\n```\n",
        "page.md",
    )
    assert second.runnable_code == "a = 1\n\nprint(a)\n"
    assert second.requires == (3, 12)
    assert first.prefix == []


def test_indented_fences_in_lists_are_found() -> None:
    snippet = _one("- item:\n\n  ```python\n  if True:\n      pass\n  ```\n")
    assert snippet.code == "if True:\n    pass\n"


def test_console_script_splits_input_output_and_tracebacks() -> None:
    typed, output, exceptions = console_script(
        ">>> 1 + 1\n2\n>>> for i in range(2):\n...     print(i)\n...\n0\n1\n>>> 1 / 0\n"
        "Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero\n"
    )
    assert typed == "1 + 1\nfor i in range(2):\n    print(i)\n\n1 / 0\n"
    assert output == ["2", "0", "1"]
    assert exceptions == ["ZeroDivisionError: division by zero"]


def test_console_stderr_keeps_only_expected_tracebacks() -> None:
    stderr = (
        "aiotrio 0.1.0 console: asyncio on Trio 0.35.0\nPython 3.14\nUse await\n"
        'Type "help", "copyright", "credits" or "license" for more information.\n'
        "Traceback (most recent call last):\n  File x\nasyncio.exceptions.CancelledError\n\n"
        f"{_CHAINED[0]}\n\nTraceback (most recent call last):\n  File y\nTimeoutError\n"
        "Exception ignored while calling deallocator <function StreamWriter.__del__>:\n"
        "Traceback (most recent call last):\n  File z\nResourceWarning: loop is closed\n"
        "exiting aiotrio console...\n"
    )
    exceptions, other = console_stderr(stderr)
    assert exceptions == [
        "asyncio.exceptions.CancelledError",
        "TimeoutError",
        "ResourceWarning: loop is closed",
    ]
    assert other == ["Exception ignored while calling deallocator <function StreamWriter.__del__>:"]


def test_the_docs_have_snippets_to_run() -> None:
    snippets = all_snippets()
    assert not [s.id for s in snippets if s.error]
    assert len([s for s in snippets if not s.skip]) >= 20
