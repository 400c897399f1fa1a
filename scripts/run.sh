#!/usr/bin/env bash
# `make run`: install what is missing, start Redis and the local cloud, migrate, load the demo data,
# then run web, Celery worker and beat in the foreground. Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var/redis var/log

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "== stopping Kennel"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${started_redis:-}" ]] && redis-cli -p 6379 shutdown nosave >/dev/null 2>&1
  return 0
}
trap cleanup INT TERM EXIT

# Redis: Kennel's broker. Start our own on loopback unless one answers already.
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
if [[ "$REDIS_URL" == redis://127.0.0.1:6379/* ]] && ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --dir var/redis --daemonize yes \
    --pidfile "$PWD/var/redis/redis.pid" --logfile "$PWD/var/redis/redis.log"
  started_redis=1
fi

# The cloud: the local devcloud unless OS_CLOUD names another one.
if [[ -z "${OS_CLOUD:-}" || "${OS_CLOUD}" == kennel-admin ]] && [[ -x devcloud/run ]]; then
  devcloud/run start || echo "!! the local cloud did not start; Kennel runs, and cloud work waits for it" >&2
fi

python manage.py migrate --noinput -v0
python manage.py demo_load

start() {  # each child in its own process group, so Ctrl-C stops its workers too
  setsid "$@" & pids+=("$!")
}
start python manage.py runserver 127.0.0.1:8000
start celery -A kennel worker --loglevel INFO --concurrency 2
start celery -A kennel beat --loglevel INFO --schedule var/celerybeat-schedule
start python -m bmcsim demo  # the demo servers' emulated BMCs (IPMI and Redfish) on loopback
echo "== Kennel is starting on http://127.0.0.1:8000/ (Ctrl-C stops web, worker, beat and the BMC emulators)"
wait -n
