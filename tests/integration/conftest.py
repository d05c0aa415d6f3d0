"""Real servers for the integration tests: PostgreSQL and Redis on loopback.

`tools/servers.sh` installs them (Debian's packages) and runs them. A session
reuses servers a developer already started with ``tools/servers.sh start``;
otherwise it starts a private pair under ``.servers/pytest-PID`` and stops
them at the end. Anything that goes wrong fails the tests that need them,
loudly: these tests never skip because a server is missing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
SERVERS_SH = REPO / "tools" / "servers.sh"
SERVER_FIXTURES = {"servers", "pg_dsn", "redis_url"}

#: Set when installing the servers failed; the `servers` fixture reports it.
_install_errors: list[str] = []


def _servers_sh(*args: str, env: dict[str, str] | None = None, timeout: float) -> str:
    done = subprocess.run(
        [str(SERVERS_SH), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"tools/servers.sh {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def pytest_collection_finish(session: pytest.Session) -> None:
    # Installing packages takes longer than a test's timeout, so it happens
    # here, once, and only when a collected test needs the servers.
    if not any(SERVER_FIXTURES & set(getattr(i, "fixturenames", ())) for i in session.items):
        return
    try:
        _servers_sh("install", timeout=900)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _install_errors.append(str(exc))


def _parse_env(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    """Connection info of running PostgreSQL and Redis servers."""
    if _install_errors:
        pytest.fail(_install_errors[0], pytrace=False)
    given = {k: os.environ[k] for k in ("AIOTRIO_PG_DSN", "AIOTRIO_REDIS_URL") if k in os.environ}
    if len(given) == 2:
        yield given
        return
    if (
        subprocess.run([str(SERVERS_SH), "status"], capture_output=True, check=False).returncode
        == 0
    ):
        yield _parse_env((REPO / ".servers" / "env").read_text())
        return
    env = {**os.environ, "SERVERS_DIR": str(REPO / ".servers" / f"pytest-{os.getpid()}")}
    try:
        info = _parse_env(_servers_sh("start", env=env, timeout=120))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _servers_sh("stop", env=env, timeout=120)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield info
    finally:
        _servers_sh("stop", env=env, timeout=120)


@pytest.fixture
def pg_dsn(servers: dict[str, str]) -> str:
    return servers["AIOTRIO_PG_DSN"]


@pytest.fixture
def redis_url(servers: dict[str, str]) -> str:
    return servers["AIOTRIO_REDIS_URL"]
