#!/usr/bin/env bash
# The pytest suite (tests/, integration tests excluded) for each Python in $PYTHONS
# and each readiness backend in $READINESS, two runs at a time (2 cores).
# The plugin, CLI, IPython, task-tree, docs snippet and guest-mode tests do not depend
# on the readiness backend: they run once per Python, with the first backend. Prints one
# summary line per run.
#
# Arguments go to every pytest run: `tools/unit.sh -k foo`, `tools/unit.sh tests/test_cli.py`
# (`make unit ARGS="-k foo"`). With no arguments, the runs on $COVERAGE_PYTHON (3.14) measure
# line and branch coverage of src/aiotrio (both backends combined, child Pythons included) and
# fail below the floor in pyproject.toml ([tool.coverage.report] fail_under); `make coverage`
# runs only those. COVERAGE=no turns the measurement off.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
read -r -a pythons <<< "${PYTHONS:-$("$here/tools/pythons.sh" | cut -d' ' -f1 | xargs)}"
read -r -a backends <<< "${READINESS:-selector trio}"
jobs=${UNIT_JOBS:-2}
coverage_python=${COVERAGE_PYTHON:-3.14}
paths=(tests)
[ $# -eq 0 ] || paths=()
# Coverage only of the whole suite on every backend: a partial run would fail the floor.
measure=no
if [ $# -eq 0 ] && [ "${COVERAGE:-yes}" != no ] && [ "${#backends[@]}" -ge 2 ]; then
  for version in "${pythons[@]}"; do [ "$version" = "$coverage_python" ] && measure=yes; done
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Venvs first, one at a time: pip does not like concurrent installs.
for version in "${pythons[@]}"; do
  tools/venv.sh "$version" > "$logs/python-$version" || { echo "unit.sh: no venv for $version" >&2; exit 1; }
done
if [ "$measure" = yes ]; then
  rm -rf .coverage-data && mkdir -p .coverage-data
fi

run_one() {  # VERSION BACKEND FIRST-BACKEND? [PYTEST-ARGS...]
  local version=$1 backend=$2 first=$3 python
  shift 3
  python=$(cat "$logs/python-$version")
  local ignore=(--ignore=tests/integration)
  [ "$first" = yes ] || ignore+=(--ignore=tests/test_cli.py --ignore=tests/test_pytest_plugin.py
                                --ignore=tests/test_ipython.py --ignore=tests/test_task_tree.py
                                --ignore=tests/test_docs_snippets.py
                                --ignore=tests/test_guest.py --ignore=tests/test_guest_interrupts.py
                                --ignore=tests/test_guest_uvicorn.py)
  local runner=("$python" -m pytest)
  if [ "$measure" = yes ] && [ "$version" = "$coverage_python" ]; then
    runner=("$python" -m coverage run -m pytest)
  fi
  AIOTRIO_READINESS=$backend "${runner[@]}" -q "${ignore[@]}" "${paths[@]}" "$@" \
    > "$logs/run-$version-$backend.log" 2>&1
  echo $? > "$logs/run-$version-$backend.rc"
}

running=0
for version in "${pythons[@]}"; do
  first=yes
  for backend in "${backends[@]}"; do
    run_one "$version" "$backend" "$first" "$@" &
    first=no
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  done
done
wait

status=0
for version in "${pythons[@]}"; do
  for backend in "${backends[@]}"; do
    log="$logs/run-$version-$backend.log"
    rc=$(cat "$logs/run-$version-$backend.rc")
    if [ "$rc" != 0 ]; then
      status=1
      echo "=== FAILED: Python $version, readiness=$backend (last 60 lines)"
      tail -n 60 "$log"
    fi
  done
done
echo
echo "=== unit test summary"
for version in "${pythons[@]}"; do
  for backend in "${backends[@]}"; do
    echo "Python $version readiness=$backend: $(tail -n 1 "$logs/run-$version-$backend.log")"
  done
done
if [ "$measure" = yes ]; then
  python=$(cat "$logs/python-$coverage_python")
  echo
  echo "=== coverage of src/aiotrio (Python $coverage_python, readiness ${backends[*]}; htmlcov/index.html)"
  "$python" -m coverage combine -q
  "$python" -m coverage html -q
  "$python" -m coverage report || { echo "=== FAILED: coverage below the floor (fail_under)"; status=1; }
fi
exit $status
