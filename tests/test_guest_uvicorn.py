"""uvicorn (uvloop or stock asyncio) serving handlers that call Trio code: Trio runs as a guest.

Everything is real and on loopback: uvicorn in a child process serving
tests/_guest_asgi_app.py, its handlers' Trio TCP client talking to a server
of this test, httpx in Trio mode calling back into the same uvicorn, and
signals for the graceful shutdown.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests._guest_support import HOSTS, loop_factory, no_leaks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["no_leaks"]

pytest.importorskip("uvicorn", reason="the guest extra (uvicorn, starlette) is not installed")

TESTS = Path(__file__).parent
TIMEOUT = 30.0


class Uvicorn:
    """A uvicorn child process serving the test app on a free loopback port."""

    def __init__(self, loop: str, *options: str) -> None:
        command = [sys.executable, "-m", "uvicorn", "_guest_asgi_app:app", "--app-dir", str(TESTS)]
        command += ["--host", "127.0.0.1", "--port", "0", "--loop", loop]
        command += ["--no-access-log", "--lifespan", "on", *options]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.output = {"stdout": b"", "stderr": b""}
        found = self.wait_for("stderr", rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
        self.port = int(found.group(1))

    def _read_some(self, deadline: float) -> bool:
        """Read what either pipe has; False at EOF on both."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        pipes = {self.proc.stdout.fileno(): "stdout", self.proc.stderr.fileno(): "stderr"}
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"uvicorn timed out; so far: {self.output}"
        readable, _, _ = select.select(list(pipes), [], [], remaining)
        eof = 0
        for fd in readable:
            chunk = os.read(fd, 65536)
            eof += not chunk
            self.output[pipes[fd]] += chunk
        return not (readable and eof == len(pipes))

    def wait_for(self, stream: str, pattern: bytes) -> re.Match[bytes]:
        deadline = time.monotonic() + TIMEOUT
        while (found := re.search(pattern, self.output[stream])) is None:
            assert self._read_some(deadline), f"uvicorn exited; output: {self.output}"
        return found

    def finish(self) -> int:
        """Read everything until uvicorn exits; its return code."""
        deadline = time.monotonic() + TIMEOUT
        while self._read_some(deadline):
            pass
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    loop_factory(name)  # skips where uvloop is missing
    return name


@pytest.fixture
def start_uvicorn(host: str) -> Iterator[Callable[..., Uvicorn]]:
    """``start_uvicorn(*options)``: uvicorn on `host`'s loop; killed, if need be, at the end."""
    servers: list[Uvicorn] = []

    def start(*options: str) -> Uvicorn:
        servers.append(Uvicorn(host, *options))
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.kill()


def _send_request(port: int, target: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    client.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    return client


def _read_response(client: socket.socket) -> tuple[int, bytes]:
    data = b""
    with client:
        while chunk := client.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _serve_one_line(listener: socket.socket, reply: bytes | None) -> socket.socket:
    """Accept the Trio client, read its line, send `reply` (if any); the open connection."""
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT)
    received = b""
    while not received.endswith(b"\n"):
        chunk = conn.recv(1024)
        assert chunk, received
        received += chunk
    if reply is not None:
        conn.sendall(reply + b"\n")
    return conn


def test_handlers_call_trio_tcp_and_httpx_in_trio_mode(
    start_uvicorn: Callable[..., Uvicorn],
) -> None:
    uvicorn = start_uvicorn()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        for line in ("one", "two"):  # the second call reuses the guest run
            client = _send_request(uvicorn.port, f"/tcp?port={port}&line={line}")
            with _serve_one_line(listener, line.upper().encode()):
                assert _read_response(client) == (200, line.upper().encode())

    response = httpx.get(f"http://127.0.0.1:{uvicorn.port}/http", timeout=TIMEOUT)
    assert response.text == "200 hello from asyncio (client in trio)"

    uvicorn.proc.send_signal(signal.SIGINT)
    assert uvicorn.finish() in (0, -signal.SIGINT), uvicorn.output
    assert b"TRIO BACKGROUND FINALLY" in uvicorn.output["stdout"], uvicorn.output
    assert b"Finished server process" in uvicorn.output["stderr"], uvicorn.output
    assert b"Traceback" not in uvicorn.output["stderr"], uvicorn.output


def test_graceful_shutdown_waits_for_a_handler_waiting_in_trio(
    start_uvicorn: Callable[..., Uvicorn],
) -> None:
    uvicorn = start_uvicorn()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        client = _send_request(uvicorn.port, f"/tcp?port={listener.getsockname()[1]}&line=slow")
        with _serve_one_line(listener, None) as conn:  # the handler now waits in Trio
            # uvicorn re-raises the signal once shut down: SIGINT then ends
            # asyncio.run as Ctrl-C does, which ends the guest run (SIGTERM
            # would kill the process there, before any asyncio cleanup).
            uvicorn.proc.send_signal(signal.SIGINT)
            uvicorn.wait_for("stderr", rb"Waiting for connections to close")
            conn.sendall(b"finished anyway\n")
            assert _read_response(client) == (200, b"finished anyway")
    assert uvicorn.finish() in (0, -signal.SIGINT), uvicorn.output
    assert b"TRIO CLIENT FINALLY slow" in uvicorn.output["stdout"], uvicorn.output
    assert b"TRIO BACKGROUND FINALLY" in uvicorn.output["stdout"], uvicorn.output
    assert b"Finished server process" in uvicorn.output["stderr"], uvicorn.output
    assert b"Traceback" not in uvicorn.output["stderr"], uvicorn.output


def test_graceful_shutdown_timeout_cancels_the_trio_side(
    start_uvicorn: Callable[..., Uvicorn],
) -> None:
    uvicorn = start_uvicorn("--timeout-graceful-shutdown", "1")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        client = _send_request(uvicorn.port, f"/tcp?port={listener.getsockname()[1]}&line=stuck")
        with _serve_one_line(listener, None) as conn, client:
            uvicorn.proc.send_signal(signal.SIGINT)
            # Never answered: uvicorn's graceful-shutdown timeout cancels the
            # handler, which cancels its Trio task; the Trio client closes.
            assert conn.recv(1024) == b""
    assert uvicorn.finish() in (0, -signal.SIGINT), uvicorn.output
    out = uvicorn.output
    assert b"Cancel 1 running task(s), timeout graceful shutdown exceeded" in out["stderr"], out
    assert b"TRIO CLIENT FINALLY stuck" in out["stdout"], out
    assert b"TRIO BACKGROUND FINALLY" in out["stdout"], out
    assert b"Finished server process" in out["stderr"], out
