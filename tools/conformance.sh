#!/usr/bin/env bash
# Run CPython's own test_asyncio against aiotrio on every supported Python.
# Usage: tools/conformance.sh [--baseline] [run.py options...]
#   PYTHONS="3.11 3.12" tools/conformance.sh        (default: all supported)
#   tools/conformance.sh --baseline                   (stock loop; rewrites conformance/baseline/)
# Uses each Python's test venv (.venvs/pyX.Y, which has greenback for mode b).
# Prints one table per Python, then the totals; writes
# conformance/results/X.Y.md. Exits non-zero if any Python has problems.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pythons=${PYTHONS:-$("$here/tools/pythons.sh" | cut -d' ' -f1 | xargs)}
status=0
summary=()
for v in $pythons; do
  py=$("$here/tools/venv.sh" "$v") || { echo "conformance: no venv for $v" >&2; exit 1; }
  out=$(mktemp)
  "$py" "$here/conformance/run.py" "$@" | tee "$out"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=1
  # The run's one-line totals (python | mode | ...) for the closing table.
  [ ${#summary[@]} -gt 0 ] || \
    while IFS= read -r line; do summary+=("$line"); done < <(grep -E -A1 "^\| python +\| mode " "$out" | head -2)
  while IFS= read -r line; do summary+=("$line"); done < <(grep -E "^\| $v +\| [ab] " "$out")
  rm -f "$out"
done
if [ ${#summary[@]} -gt 0 ]; then
  echo
  echo "## test_asyncio on aiotrio: all Pythons"
  echo
  printf '%s\n' "${summary[@]}"
  # One plain closing line for CI: passed/skipped tests, and "failed" = problems
  # (unexpected failures, expected failures that pass, stale entries, stock loops).
  echo
  printf '%s\n' "${summary[@]}" | awk -F'|' '$3 ~ /^ *[ab] *$/ {
      p += $5; s += $9; if ($16 ~ /problem/) { split($16, w, " "); f += w[1] } }
    END { printf "conformance: %d passed, %d failed, %d skipped\n", p, f, s }'
fi
exit $status
