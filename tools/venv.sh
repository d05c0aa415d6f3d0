#!/usr/bin/env bash
# Make (or refresh) .venvs/pyVERSION with aiotrio installed editable plus extras.
# Usage: tools/venv.sh VERSION [EXTRAS [NAME]]   -> prints the venv's python path
#   EXTRAS: comma-separated extras of pyproject.toml (default: everything
#           `make test` needs, so lint, unit and integration share one venv)
#   NAME:   venv directory name under .venvs (default: pyVERSION)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=$1
extras=${2:-test,plugin-test,integration,web,conformance,ipython,guest,dev}
name=${3:-py$version}
python=$("$here/tools/pythons.sh" "$version" | cut -d' ' -f2)
venv="$here/.venvs/$name"
stamp="$venv/.aiotrio-stamp"
want="$(cat "$here/pyproject.toml" "$here/tools/venv.sh" | sha256sum | cut -c1-16)-$extras"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -e "$here[$extras]" 2>&1 \
    | grep -v "^WARNING: Location .* is ignored" >&2 || true
  "$venv/bin/python" -c "import aiotrio" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
