#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster on 127.0.0.1 for the test suite and
# print its URL. Installs Debian's postgresql when no server binaries are present.
#   usage: eval "$(scripts/pg-test-cluster.sh start)"   -> exports TALLYBOOK_TEST_PG_URL
#          scripts/pg-test-cluster.sh stop
set -euo pipefail
PORT="${TALLYBOOK_TEST_PG_PORT:-55432}"
DIR="${TALLYBOOK_TEST_PG_DIR:-/tmp/tallybook-pg-$PORT}"

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  if ! find_bin >/dev/null; then
    echo "installing postgresql from Debian..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
}

run_as_pg() {
  if [ "$(id -u)" = "0" ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

start() {
  ensure_installed
  local bin; bin="$(find_bin)"
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql postgres >&2
  fi
  mkdir -p "$DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$DIR"
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    run_as_pg "$bin/initdb -D '$DIR/data' -U postgres -A trust --no-sync -E UTF8 >/dev/null"
  fi
  if ! run_as_pg "$bin/pg_ctl -D '$DIR/data' status" >/dev/null 2>&1; then
    run_as_pg "$bin/pg_ctl -D '$DIR/data' -l '$DIR/log' -w -o \"-h 127.0.0.1 -p $PORT -k '$DIR' -c fsync=on -c max_connections=200 -c shared_buffers=256MB\" start" >&2
  fi
  echo "export TALLYBOOK_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
}

stop() {
  local bin; bin="$(find_bin)" || exit 0
  run_as_pg "$bin/pg_ctl -D '$DIR/data' -m fast stop" >/dev/null 2>&1 || true
}

"${1:-start}"
