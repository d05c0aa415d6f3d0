#!/usr/bin/env bash
# The fault-injection matrix (tests/faults/): `tools/faults.sh short` is part of `make test`,
# `tools/faults.sh long` is `make soak` (50 runs per SIGINT cell). Pythons from $PYTHONS.
# Each Python's cells go to build/faults/PYTHON.json; the merged tables are printed at the end.
# FAULTS_SEED fixes the seed (default: printed, derived from the time).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
form=${1:-short}
# The short form (make test) runs on the oldest Python and 3.14; the soak on all of $PYTHONS.
if [ "$form" = short ]; then default_pythons="3.11 3.14"; else default_pythons=${PYTHONS:-3.11 3.12 3.13 3.14 3.15}; fi
pythons=${FAULTS_PYTHONS:-$default_pythons}
out="$here/build/faults"
mkdir -p "$out"
rm -f "$out"/*.json
status=0
seed_args=()
[ -n "${FAULTS_SEED:-}" ] && seed_args=(--seed "$FAULTS_SEED")
for version in $pythons; do
  python=$("$here/tools/venv.sh" "$version") || { status=1; continue; }
  echo "== fault matrix ($form), Python $version"
  "$python" -m tests.faults.run --form "$form" --json "$out/$version.json" "${seed_args[@]}" \
    ${FAULTS_ARGS:-} || status=1
done
python=$("$here/tools/venv.sh" "${pythons%% *}")
"$python" -m tests.faults.table "$out"/*.json > "$out/tables.md" && cat "$out/tables.md"
exit $status
