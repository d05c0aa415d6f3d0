#!/usr/bin/env bash
# `make test`: everything CI checks, on every supported Python.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
status=0
# Every supported Python that is here (installing 3.14/3.15 where the machine can);
# in strict mode (CI=true) a missing one fails the run.
if [ -z "${PYTHONS:-}" ]; then
  PYTHONS=$(tools/pythons.sh | cut -d' ' -f1 | xargs) || { echo "make test: a supported Python is missing"; exit 1; }
  export PYTHONS
fi
echo "make test: Pythons $PYTHONS"
run() {
  echo
  echo "##### $*"
  "$@" || { echo "##### FAILED: $*"; status=1; }
}
run tools/lint.sh
run tools/docs.sh
run tools/unit.sh
run tools/conformance.sh
run tools/integration.sh
# The fault-injection matrix, short form (~2-3 minutes per Python on 2 busy cores).
run tools/faults.sh short
run tools/dist.sh
# trio-asyncio 0.16's own suite against aiotrio.trio_asyncio: ~10 s per Python.
for version in $PYTHONS; do
  run tools/trio-asyncio-suite.sh "$version"
done
# anyio's own suite takes ~2 minutes per Python: the oldest and newest but one.
run tools/anyio-suite.sh 3.11
run tools/anyio-suite.sh 3.14
echo
if [ $status -eq 0 ]; then echo "make test: all passed"; else echo "make test: FAILURES above"; fi
exit $status
