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
# Cinder is on in the demo's cloud, so the Volumes page has a cloud to make volumes in.
export DEVCLOUD_CINDER=${DEVCLOUD_CINDER:-1}
if [[ -z "${OS_CLOUD:-}" || "${OS_CLOUD}" == kennel-admin ]] && [[ -x devcloud/run ]]; then
  devcloud/run start || echo "!! the local cloud did not start; Kennel runs, and cloud work waits for it" >&2
  # Its clouds.yaml is under its root: var/devcloud/, or DEVCLOUD_ROOT when it runs from elsewhere.
  export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-${DEVCLOUD_ROOT:-$PWD/var/devcloud}/clouds.yaml}
fi

start() {  # each child in its own process group, so Ctrl-C stops its workers too
  setsid "$@" & pids+=("$!")
}

# KENNEL_LDAP_DEMO=1: a demo company directory (slapd on 127.0.0.1:16389, devldap/) and sign-in
# against it; its settings come from the env file it writes once it answers.
if [[ "${KENNEL_LDAP_DEMO:-}" == 1 ]]; then
  rm -f var/ldap-demo/env
  start python -m devldap demo var/ldap-demo
  for _ in $(seq 100); do [[ -e var/ldap-demo/env ]] && break; sleep 0.2; done
  [[ -e var/ldap-demo/env ]] || { echo "!! the demo directory did not start (var/ldap-demo/slapd.log)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source var/ldap-demo/env
fi

python manage.py migrate --noinput -v0
python manage.py demo_load
# Web and workers of this machine add up their counters here for /metrics; emptied at each start.
export PROMETHEUS_MULTIPROC_DIR="$PWD/var/metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# Metrics: Debian's prometheus on loopback scraping the emulated node and libvirt exporters of the demo
# estate and the cloud's VMs, and this machine's node exporter (as X1), unless one is configured already.
if [[ -z "${KENNEL_PROMETHEUS_URL:-}" ]] && command -v prometheus >/dev/null; then
  export KENNEL_PROMETHEUS_URL=http://127.0.0.1:19090 KENNEL_PROMETHEUS_RULES=1
  python manage.py prometheus_rules --output var/prometheus/kennel-rules.yml  # what the VM lists read
  start python -m exportersim run --workdir var/prometheus --prometheus-port 19090 \
    --exporter-port 19100 --node-exporter-port 19101 --rules var/prometheus/kennel-rules.yml
fi
start python manage.py runserver 127.0.0.1:8000
# One worker per Celery queue (KENNEL_TASK_QUEUES in kennel/settings.py): a slow BMC sweep or a mail
# outage never waits in front of a VM build.
start celery -A kennel worker -Q cloud -n cloud@%h --loglevel INFO --concurrency 2
start celery -A kennel worker -Q bmc -n bmc@%h --loglevel INFO --concurrency 1
start celery -A kennel worker -Q mail -n mail@%h --loglevel INFO --concurrency 1
start celery -A kennel worker -Q housekeeping -n housekeeping@%h --loglevel INFO --concurrency 1
start celery -A kennel beat --loglevel INFO --schedule var/celerybeat-schedule
start python -m bmcsim demo  # the demo servers' emulated BMCs (IPMI and Redfish) on loopback
echo "== Kennel is starting on http://127.0.0.1:8000/ (Ctrl-C stops web, workers, beat, the BMC emulators and Prometheus)"
wait -n
