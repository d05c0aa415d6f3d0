# Shared by the scripts that run a library's own test suite from its sdist against aiotrio
# (tools/anyio-suite.sh, tools/uvicorn-suite.sh, tools/trio-asyncio-suite.sh): sourced, not run.
#
# sdist_suite_fetch PYTHON DIST VERSION DEST [OVERRIDE]
#   Unpacks the sdist of DIST==VERSION (its tests are not in the wheel) into DEST, downloaded
#   with PYTHON's pip, and appends the file OVERRIDE (if given) to DEST/tests/conftest.py.
#   Does nothing when DEST is ready with this OVERRIDE; starts again when OVERRIDE changes.
#   DEST belongs under .venvs/ (git-ignored).
# sdist_suite_args ARGS...
#   Sets the array `args` to ARGS, with `tests` first when no argument names a test path:
#   the whole suite then runs.
# sdist_suite_prepare DIST [PYTHON_VERSION [PYTEST_ARGS...]]
#   For a suite with its files in tools/DIST_suite/ (conftest_override.py.in, plugin.py,
#   expected_failures.txt): makes the venv .venvs/DISTX.Y (dependency group DIST-suite),
#   fetches the installed DIST's sdist into .venvs/DIST-src/DIST-VERSION with the override,
#   changes into it, exports AIOTRIO_<DIST>_EXPECTED_FAILURES and a PYTHONPATH that finds
#   the plugins, and sets: version (Python, default 3.11), python, dist_version, src, args.

sdist_suite_fetch() {
  local python=$1 dist=$2 dist_version=$3 dest=$4 override=${5:-} stamp=plain download
  [ -z "$override" ] || stamp=$(sha256sum "$override" | cut -c1-16)
  [ "$(cat "$dest/.aiotrio-ready" 2>/dev/null)" != "$stamp" ] || return 0
  rm -rf "$dest"
  mkdir -p "$dest"
  download=$(mktemp -d)
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip download -q --no-binary :all: --no-deps \
    "$dist==$dist_version" -d "$download" 2>&1 | grep -v "^WARNING: Location .* is ignored" >&2 || true
  tar -xzf "$download"/*.tar.gz -C "$dest" --strip-components=1
  rm -rf "$download"
  if [ ! -f "$dest/tests/conftest.py" ]; then
    echo "$(basename "$0"): no tests in the $dist $dist_version sdist" >&2
    return 1
  fi
  [ -z "$override" ] || cat "$override" >> "$dest/tests/conftest.py"
  echo "$stamp" > "$dest/.aiotrio-ready"
}

sdist_suite_args() {
  local arg has_path=0
  args=("$@")
  for arg in "${args[@]}"; do case $arg in tests*) has_path=1 ;; esac; done
  [ "$has_path" = 1 ] || args=(tests "${args[@]}")
}

sdist_suite_prepare() {
  local dist=$1 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  version=${2:-3.11}
  python=$("$here/tools/venv.sh" "$version" "$dist-suite" "$dist$version")
  dist_version=$("$python" -c "import importlib.metadata as m; print(m.version('$dist'))")
  src=$here/.venvs/$dist-src/$dist-$dist_version
  sdist_suite_fetch "$python" "$dist" "$dist_version" "$src" \
    "$here/tools/${dist}_suite/conftest_override.py.in"
  cd "$src"
  export "AIOTRIO_${dist^^}_EXPECTED_FAILURES=$here/tools/${dist}_suite/expected_failures.txt"
  export PYTHONPATH=$here/tools/${dist}_suite:$here/tools/sdist_suite${PYTHONPATH:+:$PYTHONPATH}
  shift $(($# > 1 ? 2 : 1))
  sdist_suite_args "$@"
}
