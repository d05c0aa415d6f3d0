#!/usr/bin/env bash
# `make demo`: a .venv with aiotrio, then the example that shows Trio and asyncio together.
# Uses `python3` if it is a supported version (3.11+), else the newest supported Python found.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  python=$( (CI= AIOTRIO_STRICT_PYTHONS= tools/pythons.sh 2>/dev/null || true) | tail -n1 | cut -d' ' -f2)
  [ -n "$python" ] || { echo "demo: needs Python 3.11 or newer" >&2; exit 1; }
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location .* is ignored" >&2 || true
.venv/bin/python examples/demo.py
