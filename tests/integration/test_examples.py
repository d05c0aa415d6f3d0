"""Each program in examples/ runs, as a user would run it, and says the right things.

They run as subprocesses of this Python with ``-W error``: any warning (an
unclosed session, a deprecation) is an error, and stderr must stay empty.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

from ._examples import drop_namespace
from ._server_process import LOG_TIMEOUT, ServerProcess, assert_clean_log

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=45,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    return done.stdout


def test_asyncio_script_runs_unmodified_on_aiotrio() -> None:
    out = run_example("asyncio_script.py")
    assert out.splitlines() == [
        "loop: aiotrio",
        "http: hello a, hello b, hello c",
        "websockets: PING OVER WEBSOCKETS",
        "sqlite: 55",
        "subprocess: 42",
        "timeout: fired",
    ]


def test_trio_program_with_asyncpg_and_aiohttp(pg_dsn: str) -> None:
    out = run_example("trio_asyncpg_aiohttp.py", env={"AIOTRIO_PG_DSN": pg_dsn})
    lines = out.splitlines()
    # Three concurrent Trio tasks: their quotes arrive in any order.
    assert sorted(lines[:3]) == [
        "quote 1: Simple is better than complex.",
        "quote 2: Flat is better than nested.",
        "quote 3: Errors should never pass silently.",
    ]
    assert lines[3:] == [
        "notifications: 1, 2, 3",
        "slow query cancelled: True",
        "next query: 2",
        "done",
    ]


def _get_json(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, float] = json.load(response)
        return data


def test_aiohttp_server_with_trio_background_task() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error",
            str(EXAMPLES / "aiohttp_trio_background.py"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"listening on (http://\S+)\n", process.stdout.readline())
        assert match, "the example did not say where it listens"
        base = match.group(1)

        first = _get_json(f"{base}/latest")
        # The Trio task samples every 100 ms meanwhile: wait for two more samples.
        deadline = time.monotonic() + 30
        later = first
        while later["sample"] < first["sample"] + 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the state, not a timing margin
            later = _get_json(f"{base}/latest")
        assert later["sample"] >= first["sample"] + 2
        # /wait returns the next sample, waited for in Trio through run_trio.
        waited = _get_json(f"{base}/wait")
        assert waited["sample"] > later["sample"]
        assert 15 <= waited["value"] <= 25

        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "got SIGINT, stopping"
    assert re.fullmatch(r"stopped cleanly after \d+ samples", lines[1])


def test_uvicorn_served_from_a_trio_program() -> None:
    out = run_example("uvicorn_in_trio.py")
    assert out.splitlines() == [
        "three requests, each answered on a later tick: True",
        "uvicorn stopped; lifespan: startup, shutdown",
    ]


def test_hypercorn_quart_trio_app_with_asyncpg_and_redis(pg_dsn: str, redis_url: str) -> None:
    namespace = f"notes_example_{os.getpid()}"
    args = [sys.executable, "-W", "error", str(EXAMPLES / "hypercorn_quart_trio.py")]
    env = {"AIOTRIO_PG_DSN": pg_dsn, "AIOTRIO_REDIS_URL": redis_url}
    with ServerProcess([*args, "--port", "0", "--namespace", namespace], env=env) as server:
        base = json.loads(server.wait_for(r"^\{\"listening\".*").group(0))["listening"]
        with httpx.Client(base_url=base, timeout=LOG_TIMEOUT) as client:
            note = client.post("/notes", json={"text": "hello"}).json()["id"]
            assert client.get(f"/notes/{note}").json()["cached"] is False
            assert client.get(f"/notes/{note}").json() == {
                "id": note,
                "text": "hello",
                "cached": True,
                "views": 2,
            }
            stats = client.get("/stats").json()
        server.send_signal(signal.SIGTERM)
        server.wait_for(r"got SIGTERM, stopping")
        server.wait_for(r"stopped cleanly")
        assert server.finish() == 0
    assert stats == {"notes": 1, "views": 2}
    assert_clean_log(server.lines)
    asyncio.run(drop_namespace(pg_dsn, redis_url, namespace))


def test_demo_runs() -> None:
    out = run_example("demo.py")
    assert "  [trio   ] Trio said 42" in out.splitlines()
    assert out.splitlines()[-1] == "  [asyncio] ran on aiotrio.EventLoop"


_RUNTIME = {"aiotrio", "trio", "outcome", "sniffio"}


def _third_party_imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - _RUNTIME - {"__future__"}


def _listed_dependencies(line: str) -> set[str]:
    """Distribution names in an "Extra dependencies:" line, as import names.

    Either ``pip install A B`` or a list ``A>=1, B[extra], C (...)``.
    """
    pip = re.search(r"pip install ([\w\- ]+)``", line)
    names = pip.group(1).split() if pip else re.split(r"[,\s]+", line.partition("(")[0])
    return {re.split(r"[\[<>=]", name)[0].lower().replace("-", "_") for name in names if name}


def test_each_example_names_its_extra_dependencies() -> None:
    for example in sorted(EXAMPLES.glob("*.py")):
        docstring = ast.get_docstring(ast.parse(example.read_text())) or ""
        match = re.search(r"^Extra dependencies: (.*)$", docstring, re.MULTILINE)
        assert match, f"{example.name}: no 'Extra dependencies:' line in its docstring"
        listed = set() if match.group(1).startswith("none") else _listed_dependencies(match[1])
        # Each import is named, or comes with a named distribution (quart with quart-trio).
        unnamed = {
            module
            for module in _third_party_imports(example.read_text())
            if not any(name == module or name.startswith(module + "_") for name in listed)
        }
        assert not unnamed, f"{example.name} imports {sorted(unnamed)} but does not name them"
