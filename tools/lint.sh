#!/usr/bin/env bash
# ruff (lint + format check) and mypy --strict over the package, then the type
# checks of tools/typecheck.sh (pyright strict, typed samples, verifytypes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(tools/venv.sh 3.11)
bin=$(dirname "$python")
"$bin/ruff" check src
"$bin/ruff" format --check src
"$python" -m mypy
echo "lint: ruff and mypy --strict clean"
tools/typecheck.sh
