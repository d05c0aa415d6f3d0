#!/usr/bin/env bash
# The integration tests (tests/integration): real asyncio libraries in Trio
# programs, against PostgreSQL and Redis servers this script installs (Debian
# packages, if missing), starts on loopback and stops at the end.
# Usage: tools/integration.sh [VERSION...]
#   VERSIONS default to $PYTHONS (or 3.11-3.15); READINESS (default
#   "selector trio") lists the readiness backends to run each under.
# Prints one pytest summary per run, then "integration: N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || read -r -a versions <<< "${PYTHONS:-$("$here/tools/pythons.sh" | cut -d' ' -f1 | xargs)}"
read -r -a backends <<< "${READINESS:-selector trio}"

"$here/tools/servers.sh" install
# One server pair for every run; the tests' fixture uses it through the env.
export SERVERS_DIR=$here/.servers/integration-$$
trap '"$here/tools/servers.sh" stop' EXIT
"$here/tools/servers.sh" start > /dev/null
AIOTRIO_PG_DSN=$(sed -n 's/^AIOTRIO_PG_DSN=//p' "$SERVERS_DIR/env")
AIOTRIO_REDIS_URL=$(sed -n 's/^AIOTRIO_REDIS_URL=//p' "$SERVERS_DIR/env")
export AIOTRIO_PG_DSN AIOTRIO_REDIS_URL

passed=0 failed=0 status=0
for v in "${versions[@]}"; do
  python=$("$here/tools/venv.sh" "$v")
  for backend in "${backends[@]}"; do
    echo "== Python $v, readiness $backend"
    log=$(mktemp)
    rc=0
    (cd "$here" && AIOTRIO_READINESS=$backend "$python" -m pytest tests/integration -q -rxXs) \
      2>&1 | tee "$log" || rc=$?
    [ "$rc" = 0 ] || status=1
    summary=$(tail -n1 "$log")
    rm -f "$log"
    # pytest's last line, e.g. "28 passed, 1 failed, 2 xfailed in 9.35s".
    p=$(awk '{for (i = 2; i <= NF; i++) if ($i ~ /^passed/) n += $(i - 1)} END {print n + 0}' <<< "$summary")
    f=$(awk '{for (i = 2; i <= NF; i++) if ($i ~ /^(failed|error)/) n += $(i - 1)} END {print n + 0}' <<< "$summary")
    passed=$((passed + p)); failed=$((failed + f))
    # A run that failed without saying so (a crash, no tests) counts as a failure.
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then failed=$((failed + 1)); fi
  done
done
echo "integration: $passed passed, $failed failed"
exit $status
