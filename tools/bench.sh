#!/usr/bin/env bash
# Run the benchmark suite (benchmarks/) on each Python, then draw one chart.
# Usage: tools/bench.sh [run.py options]     e.g. tools/bench.sh --quick --only 1,6
#   PYTHONS="3.11 3.14" (default) picks the interpreters; venvs are .venvs/benchX.Y.
# Results: benchmarks/results/bench-X.Y.{json,png,log} and benchmarks/results/bench.png,
# copied to benchmarks/chart.png for the README, and benchmarks/results/summary.md,
# the Markdown table the README shows.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
read -r -a pythons <<< "${PYTHONS:-3.11 3.14}"
results="$here/benchmarks/results"
mkdir -p "$results"
jsons=()
for version in "${pythons[@]}"; do
  python=$("$here/tools/venv.sh" "$version" test,bench "bench$version")
  "$python" "$here/benchmarks/run.py" "$@"
  jsons+=("$results/bench-$version.json")
done
"$python" "$here/benchmarks/chart.py" "$results/bench.png" "${jsons[@]}"
cp "$results/bench.png" "$here/benchmarks/chart.png"
(cd "$here/benchmarks" && "$python" summary.py "${jsons[@]}") > "$results/summary.md"
echo "README table: $results/summary.md"
