#!/usr/bin/env bash
# uvicorn's own test suite, on aiotrio's loop and on asyncio's own loop in one run.
# Usage: tools/uvicorn-suite.sh [PYTHON_VERSION] [PYTEST_ARGS...]   (default 3.11)
#
# Downloads the sdist of the installed uvicorn version (its tests are not in the
# wheel; tools/sdist_suite/lib.sh) and appends
# tools/uvicorn_suite/conftest_override.py.in to its tests/conftest.py: every
# test that takes anyio's `anyio_backend` (the async tests) then runs twice, as
# [aiotrio-...] with loop_factory=aiotrio.new_event_loop
# and as [stock-...] on asyncio's own loop, the baseline. uvicorn's sync tests
# run once. tools/uvicorn_suite/plugin.py marks the tests listed in
# tools/uvicorn_suite/expected_failures.txt as strict xfails and prints the
# figures per loop last ("uvicorn-suite aiotrio: N passed, ...").
# uvicorn's benchmarks (pytest-codspeed) are left out; its `-n 8` (xdist) too.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tools/sdist_suite/lib.sh"
# The sdist's uvicorn/ is the installed version's source; the tests import it
# from the rootdir (as uvicorn's own CI does), and `tests.` modules by name.
sdist_suite_prepare uvicorn "$@"
start=$(date +%s)
rc=0
"$python" -m pytest -p plugin -p no:cacheprovider -p no:aiotrio -q \
  -o addopts="-rxXs --strict-config --strict-markers" -o timeout=60 \
  --ignore=tests/benchmarks "${args[@]}" || rc=$?
echo "uvicorn-suite: uvicorn $dist_version on Python $version in $(( $(date +%s) - start )) s"
exit $rc
