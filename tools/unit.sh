#!/usr/bin/env bash
# The pytest suite (tests/, integration tests excluded) for each Python in $PYTHONS
# and each readiness backend in $READINESS. Prints one line per combination.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PYTHONS=${PYTHONS:-3.11 3.12 3.13 3.14 3.15}
READINESS=${READINESS:-selector trio}
status=0
summary=()
for version in $PYTHONS; do
  python=$(tools/venv.sh "$version" test) || { echo "unit.sh: no venv for $version" >&2; exit 1; }
  for backend in $READINESS; do
    echo "=== unit tests: Python $version, readiness=$backend"
    log=$(mktemp)
    AIOTRIO_READINESS=$backend "$python" -m pytest -q -p no:randomly --ignore=tests/integration tests \
      2>&1 | tee "$log" | tail -n 25
    rc=${PIPESTATUS[0]}
    summary+=("Python $version readiness=$backend: $(grep -E '^[0-9]+ (passed|failed)|passed|failed' "$log" | tail -n 1)")
    rm -f "$log"
    [ "$rc" -eq 0 ] || status=1
  done
done
echo
echo "=== unit test summary"
printf '%s\n' "${summary[@]}"
exit $status
