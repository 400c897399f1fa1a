#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on loopback for the test suite, with their data under var/test/.
#   scripts/services.sh start   prints the environment to use (DATABASE_URL, REDIS_URL)
#   scripts/services.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/var/test"
# PostgreSQL runs as the postgres user, who may not be able to enter the project's folder (a clone
# under /root, say): its data lives under /tmp, one folder per project path.
pg_dir="/tmp/kennel-test-pg-$(printf %s "$PWD" | sha256sum | cut -c1-12)"
pg_port=${KENNEL_TEST_PG_PORT:-15432}
redis_port=${KENNEL_TEST_REDIS_PORT:-16379}
pg_bin=/usr/lib/postgresql/15/bin
pg_user=postgres

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }

start() {
  mkdir -p "$root"
  # PostgreSQL refuses to run as root: its data belongs to the postgres user.
  if [[ ! -s "$pg_dir/PG_VERSION" ]]; then
    rm -rf "$pg_dir"; mkdir -p "$pg_dir"; chmod 700 "$pg_dir"
    [[ $(id -u) -eq 0 ]] && chown "$pg_user" "$pg_dir"
    as_pg "$pg_bin/initdb" -D "$pg_dir" -U kennel --auth=trust -E UTF8 --locale=C.UTF-8 >"$root/initdb.log"
  fi
  if ! as_pg "$pg_bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { tail -20 "$pg_dir/server.log" >&2; exit 1; }
    as_pg createdb -h 127.0.0.1 -p "$pg_port" -U kennel kennel 2>/dev/null || true
  fi
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    mkdir -p "$root/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$root/redis" --save "" --appendonly no \
      --daemonize yes --pidfile "$root/redis/redis.pid" --logfile "$root/redis/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "DATABASE_URL=postgres://kennel@127.0.0.1:$pg_port/kennel"
  echo "REDIS_URL=redis://127.0.0.1:$redis_port/0"
}

stop() {
  if [[ -s "$pg_dir/PG_VERSION" ]]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -m fast stop >/dev/null 2>&1 || true
  fi
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
