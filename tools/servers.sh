#!/usr/bin/env bash
# PostgreSQL and Redis servers for the integration tests, on loopback, in a
# throw-away directory. Usage:
#   tools/servers.sh install   apt-get install postgresql redis-server if missing
#   tools/servers.sh start     start both on free ports (reuses running ones)
#   tools/servers.sh stop      stop both and delete their data
#   tools/servers.sh status    exit 0 if both answer
# SERVERS_DIR (default: <repo>/.servers) holds the data and an `env` file with
# AIOTRIO_PG_DSN and AIOTRIO_REDIS_URL, one KEY=VALUE a line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${SERVERS_DIR:-$here/.servers}
envfile=$dir/env

log() { echo "servers.sh: $*" >&2; }
die() { log "$*"; exit 1; }

pg_bindir() {
  # Debian keeps the server binaries out of PATH, one directory per major version.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && echo "$d"
}

have_binaries() { pg_bindir >/dev/null && command -v redis-server >/dev/null && command -v redis-cli >/dev/null; }

cmd_install() {
  if have_binaries; then return 0; fi
  [ "$(id -u)" = 0 ] || die "postgresql/redis-server missing and not root: install them (apt-get install postgresql redis-server)"
  log "installing postgresql and redis-server from Debian's packages"
  # Keep the packages' init scripts from starting default servers: we run our own.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server >&2; }; } || rc=$?
  [ "$made_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install postgresql redis-server failed (exit $rc)"
  have_binaries || die "postgresql/redis-server still missing after apt-get install"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

read_env() { # KEY -> value from the env file
  sed -n "s/^$1=//p" "$envfile" 2>/dev/null
}

cmd_status() {
  [ -f "$envfile" ] || return 1
  local bindir pgdata redis_port
  bindir=$(read_env PG_BINDIR); pgdata=$(read_env PG_DATA); redis_port=$(read_env REDIS_PORT)
  [ -n "$bindir" ] && [ -n "$pgdata" ] && [ -n "$redis_port" ] || return 1
  runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || return 1
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] || return 1
}

cmd_start() {
  if cmd_status; then log "reusing the servers in $dir"; cat "$envfile"; return 0; fi
  [ ! -f "$envfile" ] || cmd_stop
  have_binaries || die "postgresql/redis-server are not installed: run tools/servers.sh install"
  command -v runuser >/dev/null || die "runuser (util-linux) is needed to run postgres as a non-root user"
  mkdir -p "$dir"
  local data=$dir/data bindir pg_port redis_port
  rm -rf "$data"; mkdir -p "$data"
  bindir=$(pg_bindir)
  # PostgreSQL refuses to run as root; the Debian package made a `postgres` user.
  # If it cannot reach $dir (a checkout under /root, say), use /tmp instead.
  local pgdata=$data/pg
  if ! runuser -u postgres -- test -x "$data" 2>/dev/null; then
    chmod 755 "$dir" "$data" 2>/dev/null || true
  fi
  if ! runuser -u postgres -- test -x "$data" 2>/dev/null; then
    pgdata=$(mktemp -d /tmp/aiotrio-pg.XXXXXX)/pg
    log "postgres cannot reach $data; using $pgdata"
  fi
  mkdir -p "$pgdata"; chown postgres: "$pgdata" "$(dirname "$pgdata")"; chmod 700 "$pgdata"

  runuser -u postgres -- "$bindir/initdb" -D "$pgdata" -U aiotrio --auth=trust -E UTF8 \
    --no-sync >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log" >&2; die "initdb failed"; }
  pg_port=$(free_port)
  # Loopback TCP only; the socket directory is the data directory, not /run.
  runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$pgdata -c fsync=off -c max_connections=50 -c shared_buffers=16MB" \
    start >&2 || { cat "$pgdata/server.log" >&2 || true; die "postgres did not start"; }

  redis_port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --daemonize yes --dir "$data" --pidfile "$data/redis.pid" --logfile "$data/redis.log" \
    || die "redis-server did not start"
  local i
  for i in $(seq 50); do
    [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] || {
    cat "$data/redis.log" >&2 || true; die "redis-server does not answer"; }

  cat > "$envfile" <<EOF
AIOTRIO_PG_DSN=postgresql://aiotrio@127.0.0.1:$pg_port/postgres
AIOTRIO_REDIS_URL=redis://127.0.0.1:$redis_port/0
PG_BINDIR=$bindir
PG_DATA=$pgdata
PG_PORT=$pg_port
REDIS_PORT=$redis_port
REDIS_PIDFILE=$data/redis.pid
EOF
  log "started postgres on 127.0.0.1:$pg_port and redis on 127.0.0.1:$redis_port"
  cat "$envfile"
}

cmd_stop() {
  [ -f "$envfile" ] || { log "nothing to stop in $dir"; return 0; }
  local bindir pgdata pidfile redis_port pid
  bindir=$(read_env PG_BINDIR); pgdata=$(read_env PG_DATA)
  pidfile=$(read_env REDIS_PIDFILE); redis_port=$(read_env REDIS_PORT)
  if [ -n "$pgdata" ] && [ -d "$pgdata" ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >&2 2>/dev/null || true
  fi
  if [ -n "$redis_port" ]; then
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  fi
  # shutdown may have raced; kill by the recorded pid (ours), never by name.
  if [ -n "$pidfile" ] && [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
  fi
  case $pgdata in /tmp/aiotrio-pg.*) rm -rf "$(dirname "$pgdata")" ;; esac
  rm -rf "$dir/data" "$envfile"
  rmdir "$dir" 2>/dev/null || true
  log "stopped the servers in $dir"
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
