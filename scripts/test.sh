#!/usr/bin/env bash
# `make test`: install what is missing, start throwaway PostgreSQL and Redis (and the local cloud),
# lint, then run the whole suite on PostgreSQL. Stops what it started; returns pytest's verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
export PATH="$PWD/.venv/bin:$PATH"

started_cloud=
cleanup() {
  scripts/services.sh stop
  [[ -n "$started_cloud" ]] && devcloud/run stop >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy

echo "== services"
while IFS= read -r line; do export "${line?}"; done < <(scripts/services.sh start)
# Cinder is on in the tests' cloud: the volume pages and the gateway's contract run against it.
export DEVCLOUD_CINDER=${DEVCLOUD_CINDER:-1}
if [[ -x devcloud/run ]]; then
  devcloud/run status >/dev/null 2>&1 || started_cloud=1
  devcloud/run start
  export OS_CLIENT_CONFIG_FILE="$PWD/var/devcloud/clouds.yaml" OS_CLOUD=kennel-admin
fi

echo "== migrations"
# A model change without its migration passes every test (pytest builds the test database from the
# models' migrations) and then breaks the first deploy: refuse it here.
if ! python manage.py makemigrations --check --dry-run >/dev/null; then
  echo "!! models changed without a migration: run python manage.py makemigrations <app> -n <name>" >&2
  python manage.py makemigrations --dry-run >&2 || true
  exit 1
fi

echo "== pytest"
set +e
python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is never a pass.
if [[ $status -eq 5 ]]; then echo "!! no tests were collected" >&2; exit 1; fi
exit $status
