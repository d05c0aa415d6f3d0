#!/usr/bin/env bash
# `make dist`: build the sdist and the wheel, check them, and install the wheel in a clean venv
# on the oldest and the newest supported Python, then run a smoke test from outside the tree.
# Output in dist/. Exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
oldest=3.11
newest=3.15
tool_python=$(tools/venv.sh "$oldest" release release)
rm -rf dist
"$tool_python" -m build --sdist --wheel --outdir dist . >/dev/null
"$tool_python" -m twine check --strict dist/*
"$tool_python" tools/check_dist.py dist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for version in "$oldest" "$newest"; do
  python=$(tools/pythons.sh "$version" | cut -d' ' -f2)
  "$python" -m venv "$work/venv$version"
  "$work/venv$version/bin/python" -m pip install -q --disable-pip-version-check dist/*.whl 2>&1 \
    | grep -v "^WARNING: Location .* is ignored" >&2 || true
  # From outside the source tree, so the installed wheel is what gets imported.
  (cd "$work" && timeout 120 "$work/venv$version/bin/python" -W error "$here/tools/smoke_test.py")
  echo "dist: wheel installs and works on Python $version"
done
echo "dist: $(cd dist && ls | tr '\n' ' ')"
