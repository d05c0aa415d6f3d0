#!/usr/bin/env bash
# Make (or refresh) .venvs/pyVERSION with aiotrio installed editable plus dependency groups.
# Usage: tools/venv.sh VERSION [GROUPS [NAME [EXTRAS]]]   -> prints the venv's python path
#   GROUPS: comma-separated dependency groups of pyproject.toml (PEP 735; default: everything
#           `make test` needs, so lint, unit and integration share one venv)
#   NAME:   venv directory name under .venvs (default: pyVERSION)
#   EXTRAS: comma-separated extras of the package itself (default: web,ipython for the
#           default venv, none for a named one)
# Reinstalls only when pyproject.toml or this script changes. Groups need pip >= 25.1,
# which is installed into the venv first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=$1
groups=${2:-test,plugin-test,integration,web-test,conformance,ipython-test,guest,dev}
name=${3:-py$version}
if [ $# -ge 3 ]; then default_extras=""; else default_extras="web,ipython"; fi
extras=${4:-$default_extras}
python=$("$here/tools/pythons.sh" "$version" | cut -d' ' -f2)
venv="$here/.venvs/$name"
stamp="$venv/.aiotrio-stamp"
want="$(cat "$here/pyproject.toml" "$here/tools/venv.sh" | sha256sum | cut -c1-16)-$groups-$extras"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  quiet() { grep -v "^WARNING: Location .* is ignored" >&2 || true; }
  "$venv/bin/python" -m pip install -q --upgrade "pip>=25.1" 2>&1 | quiet
  group_args=()
  IFS=, read -r -a group_list <<< "$groups"
  for group in "${group_list[@]}"; do group_args+=(--group "$here/pyproject.toml:$group"); done
  target="$here"
  [ -z "$extras" ] || target="$here[$extras]"
  "$venv/bin/python" -m pip install -q -e "$target" "${group_args[@]}" 2>&1 | quiet
  "$venv/bin/python" -c "import aiotrio" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
