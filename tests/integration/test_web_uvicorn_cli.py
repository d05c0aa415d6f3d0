"""uvicorn's command line with ``--loop aiotrio:new_event_loop``, as a real child process.

The app is examples/uvicorn_starlette_trio.py: Starlette handlers that call Trio
code with `run_trio` (a Trio TCP client to the app's own Trio service, trio.sleep),
a lifespan that starts and stops that Trio service, a streaming response and a
websocket. Each test waits for uvicorn's log lines, never for time.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from ._server_process import LOG_TIMEOUT, ServerProcess, assert_clean_log

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APP = "uvicorn_starlette_trio"


def uvicorn_cli(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-W",
        "error",
        "-m",
        "uvicorn",
        f"{APP}:app",
        "--app-dir",
        str(EXAMPLES),
        "--loop",
        "aiotrio:new_event_loop",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *extra,
    ]


def wait_until_serving(server: ServerProcess) -> tuple[str, int]:
    """(base URL, news desk port) once uvicorn listens."""
    desk_port = int(server.wait_for(r"news desk listening on 127\.0\.0\.1:(\d+)").group(1))
    server.wait_for(r"Application startup complete\.")
    base = server.wait_for(r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
    return base, desk_port


def publish(desk_port: int, headline: str) -> str:
    """Send a line to the app's Trio service; its answer."""
    with socket.create_connection(("127.0.0.1", desk_port), timeout=LOG_TIMEOUT) as sock:
        sock.sendall(headline.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(1024)
            assert chunk, "the news desk closed the connection"
            answer += chunk
    return answer.decode().rstrip("\n")


def check_features(base: str) -> None:
    """The app's routes: Trio code behind each, a streaming response, a websocket."""
    with httpx.Client(base_url=base, timeout=LOG_TIMEOUT) as client:
        assert client.get("/").json() == {"loop": "aiotrio.EventLoop"}
        # A Trio TCP client, called from the handler, to the lifespan's Trio server.
        response = client.get("/upper", params={"text": "hello trio"})
        assert response.json() == {"text": "hello trio", "upper": "HELLO TRIO"}

        # The streaming response arrives line by line, each after a trio.sleep.
        with client.stream("GET", "/ticks", params={"n": "4"}) as stream:
            assert stream.headers["content-type"].startswith("text/plain")
            assert "content-length" not in stream.headers  # chunked: really streamed
            assert list(stream.iter_lines()) == ["tick 0", "tick 1", "tick 2", "tick 3"]

    with connect(base.replace("http://", "ws://") + "/ws", open_timeout=LOG_TIMEOUT) as ws:
        for text in ["one", "two", "three"]:
            ws.send(text)
            assert ws.recv(timeout=LOG_TIMEOUT) == text.upper()


# After its graceful shutdown uvicorn re-raises the signal it caught, with the handler that
# was there before it: SIGINT then becomes asyncio.Runner's KeyboardInterrupt, which
# uvicorn's CLI turns into exit status 0, while SIGTERM's default action ends the process
# by SIGTERM. Stock asyncio behaves the same (uvicorn's own tests of it run on both loops
# in tools/uvicorn-suite.sh).
EXIT_STATUS = {signal.SIGINT: 0, signal.SIGTERM: -signal.SIGTERM}


@pytest.mark.parametrize(
    ("how", "sig"),
    [
        ("uvicorn-cli", signal.SIGINT),
        # The example's own main(): uvicorn.run(app, loop="aiotrio:new_event_loop").
        ("uvicorn.run", signal.SIGTERM),
    ],
    ids=["cli-SIGINT", "uvicorn.run-SIGTERM"],
)
def test_serves_trio_backed_app_and_shuts_down_gracefully_with_a_request_in_flight(
    how: str, sig: signal.Signals
) -> None:
    if how == "uvicorn-cli":
        args = uvicorn_cli()
    else:
        args = [sys.executable, "-W", "error", str(EXAMPLES / f"{APP}.py"), "--port", "0"]
    with ServerProcess(args) as server, ThreadPoolExecutor(1) as pool:
        base, desk_port = wait_until_serving(server)
        check_features(base)

        in_flight = pool.submit(httpx.get, f"{base}/next", timeout=LOG_TIMEOUT)
        # The handler is waiting in Trio code for the next headline.
        server.wait_for(r"waiting for the next headline")
        server.send_signal(sig)
        # uvicorn stopped listening and waits for the request to finish...
        server.wait_for(r"Waiting for connections to close")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/", timeout=LOG_TIMEOUT)
        # ... which it does when the lifespan's Trio service, still running, gets a line.
        assert publish(desk_port, "breaking news") == "BREAKING NEWS"
        response = in_flight.result(timeout=LOG_TIMEOUT)
        assert response.status_code == 200
        assert json.loads(response.text) == {"headline": "BREAKING NEWS"}
        assert server.finish() == EXIT_STATUS[sig]
    log = server.log
    # The lifespan's shutdown ran after the request, then the loop closed.
    assert log.index("Waiting for connections to close") < log.index("Application shutdown")
    # 1 + 3 headlines from the handlers (each ask() publishes what it asks), 1 from the test.
    assert "news desk stopped after 5 headlines" in log
    assert "Application shutdown complete." in log
    assert "Finished server process" in log
    assert_clean_log(server.lines)
