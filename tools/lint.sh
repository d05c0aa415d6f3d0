#!/usr/bin/env bash
# ruff (lint + format check) over the package, its tests, benchmarks, conformance runner and
# tools; mypy --strict over the package; then the type checks of tools/typecheck.sh (pyright
# strict, typed samples, verifytypes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(tools/venv.sh 3.11)
bin=$(dirname "$python")
code=(src tests benchmarks conformance tools)
"$bin/ruff" check "${code[@]}"
"$bin/ruff" format --check "${code[@]}"
"$python" -m mypy
echo "lint: ruff (${code[*]}) and mypy --strict (src) clean"
tools/typecheck.sh
