#!/usr/bin/env bash
# `make demo`: a .venv with aiotrio, then the examples that show Trio and asyncio together.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(tools/pythons.sh 3.11 | cut -d' ' -f2)
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location .* is ignored" >&2 || true
.venv/bin/python examples/demo.py
