#!/usr/bin/env bash
# `make bench`: install what is missing (as `make test` does), start PostgreSQL and Redis, then run
# every benchmark (or those in ONLY) and print one table. The benchmark cloud (var/benchcloud) and its
# 1,000 servers are kept for the next run; PostgreSQL and Redis are stopped again only if this started them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
export PATH="$PWD/.venv/bin:$PATH"

started_services=
if ! redis-cli -p "${KENNEL_TEST_REDIS_PORT:-16379}" ping >/dev/null 2>&1; then started_services=1; fi
cleanup() {
  [[ -n "$started_services" ]] && scripts/services.sh stop
  return 0
}
trap cleanup EXIT

while IFS= read -r line; do export "${line?}"; done < <(scripts/services.sh start)
# Each benchmark gets its own database named after this one (kennel_bench_<benchmark>).
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-${DATABASE_URL%/*}/kennel_bench}
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-${REDIS_URL%/*}/14}
python -m bench.run "$@"
