#!/usr/bin/env bash
# anyio's own test suite, run on anyio's asyncio backend with aiotrio as the loop.
# Usage: tools/anyio-suite.sh [PYTHON_VERSION] [PYTEST_ARGS...]   (default 3.11)
#
# Downloads the sdist of the installed anyio version (its tests are not in the
# wheel; tools/sdist_suite/lib.sh), replaces the suite's `anyio_backend` fixture
# by one that yields ("asyncio", {"debug": True, "loop_factory":
# aiotrio.new_event_loop}), and runs it with tools/anyio_suite/plugin.py, which
# marks the tests listed in tools/anyio_suite/expected_failures.txt as strict
# xfails: the run fails if a listed test passes, if an unlisted one fails, or if
# a listed test no longer exists. Prints pytest's summary line ("N passed, ...")
# last.
#
# AIOTRIO_ANYIO_BASELINE=1 runs the same tests on asyncio's own loop instead,
# without the expected failures: whatever fails then is this machine's doing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tools/sdist_suite/lib.sh"
# The installed anyio runs, not the sdist's src/ (same version, but built).
sdist_suite_prepare anyio "$@"
# anyio's own configuration names every plugin it needs (-p anyio, -p timeout,
# ...); autoloading the others (aiotrio's own pytest plugin, for one) only slows
# the suite's pytest-in-a-subprocess tests, which have 3 s timeouts.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
exec "$python" -m pytest -p plugin -q -p no:cacheprovider "${args[@]}"
