#!/usr/bin/env bash
# scripts/restore.sh FILE: a backup made by scripts/backup.sh into the EMPTY database DATABASE_URL names
# (create it first: createdb), then the migrations of this version of Kennel, then a check that every
# stored BMC password decrypts with KENNEL_ENCRYPTION_KEY (restore the key with the database). Refuses
# a database that has tables; fails, naming the servers, if a password does not decrypt.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -r "$1" ]] || { echo "usage: DATABASE_URL=postgres://… KENNEL_ENCRYPTION_KEY_FILE=… $0 FILE" >&2; exit 2; }
: "${DATABASE_URL:?DATABASE_URL must name the empty PostgreSQL database to restore into}"
command -v pg_restore >/dev/null || PATH="/usr/lib/postgresql/15/bin:$PATH"
PYTHON=${PYTHON:-.venv/bin/python}
tables=$(psql --no-psqlrc -Atc "select count(*) from pg_tables where schemaname = 'public'" "$DATABASE_URL")
if [[ "$tables" != 0 ]]; then
  echo "refusing: the database has $tables table(s); restore into an empty one (createdb NAME)" >&2
  exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$DATABASE_URL" "$1"
echo "restored $1"
"$PYTHON" manage.py migrate --noinput  # a backup of an older version is brought up to this one
"$PYTHON" manage.py rotate_bmc_secrets --dry-run  # every BMC password still decrypts with the key
