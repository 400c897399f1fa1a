#!/usr/bin/env bash
# scripts/backup.sh FILE: Kennel's database (DATABASE_URL) into FILE, pg_dump's custom format.
# The encryption key (KENNEL_ENCRYPTION_KEY / _FILE) is NOT in it: keep a copy of the key with the
# backups, or the BMC passwords in them can never be read again. See README.md, "Backups".
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: DATABASE_URL=postgres://… $0 FILE" >&2; exit 2; }
: "${DATABASE_URL:?DATABASE_URL must name the PostgreSQL database to back up}"
command -v pg_dump >/dev/null || PATH="/usr/lib/postgresql/15/bin:$PATH"
pg_dump --format=custom --no-owner --no-privileges --file="$1" --dbname="$DATABASE_URL"
echo "backed up to $1 ($(stat -c %s "$1") bytes); the encryption key is not in it"
