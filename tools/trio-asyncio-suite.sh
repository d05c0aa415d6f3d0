#!/usr/bin/env bash
# trio-asyncio 0.16's own test suite, run against aiotrio.trio_asyncio as a migrating user would.
# Usage: tools/trio-asyncio-suite.sh [PYTHON_VERSION] [PYTEST_ARGS...]   (default 3.11)
#
# Downloads trio-asyncio's sdist (its tests/ are in it), drops its trio_asyncio
# package so nothing of trio-asyncio itself can be imported, and runs its tests
# with tools/trio_asyncio_suite/shim.py, which makes `import trio_asyncio` give
# aiotrio.trio_asyncio's names. Left out: tests/python (CPython's asyncio suite
# under trio-asyncio's policy; `make conformance` runs that suite on aiotrio)
# and tests/test_deprecate.py (trio-asyncio's private _deprecate helpers).
# tools/trio_asyncio_suite/expected_failures.txt lists the tests that fail, each
# with its reason, as strict xfails (tools/anyio_suite/plugin.py applies them):
# the run fails if a listed test passes or an unlisted one fails. Prints
# pytest's summary line last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tools/sdist_suite/lib.sh"
version=${1:-3.11}
[ $# -gt 0 ] && shift
trio_asyncio_version=0.16.0
python=$("$here/tools/venv.sh" "$version")

# Under .venvs/ so that it is git-ignored. Without trio-asyncio's own package.
src=$here/.venvs/trio-asyncio-src/trio_asyncio-$trio_asyncio_version
sdist_suite_fetch "$python" trio-asyncio "$trio_asyncio_version" "$src"
rm -rf "$src/trio_asyncio"

cd "$src"
export AIOTRIO_ANYIO_EXPECTED_FAILURES=$here/tools/trio_asyncio_suite/expected_failures.txt
export PYTHONPATH=$here/tools/trio_asyncio_suite:$here/tools/anyio_suite:$here/tools/sdist_suite${PYTHONPATH:+:$PYTHONPATH}
sdist_suite_args "$@"
exec timeout 600 "$python" -m pytest -p shim -p plugin -q -p no:cacheprovider \
  --ignore=tests/python --ignore=tests/test_deprecate.py -o timeout=60 "${args[@]}"
