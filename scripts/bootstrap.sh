#!/usr/bin/env bash
# Install what is missing, and only that: Debian packages, the virtualenv with the locked Python
# dependencies, compiled translations. Safe and fast to run again.
#   scripts/bootstrap.sh          what `make run` needs
#   scripts/bootstrap.sh test     plus what `make test` needs (PostgreSQL, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-img converts and checks the old VMs' disks that admins import (Debian's qemu-utils).
# prometheus (with promtool) and its node exporter: the usage metrics of hosts and VMs, and the alert rules.
# slapd and ldap-utils: the company directory the demo (KENNEL_LDAP_DEMO=1) and the tests sign in against.
want=(redis-server:redis-server msgfmt:gettext /usr/bin/ipmitool:ipmitool qemu-img:qemu-utils
      /usr/bin/prometheus:prometheus /usr/bin/promtool:prometheus
      /usr/bin/prometheus-node-exporter:prometheus-node-exporter
      /usr/sbin/slapd:slapd /usr/bin/ldapsearch:ldap-utils)
if [[ "${1:-}" == test ]]; then
  # The font lets Chromium's screenshots of the Chinese pages show glyphs rather than boxes.
  # zsh: the CLI's zsh completion is tested in zsh itself.
  want+=(/usr/lib/postgresql/15/bin/initdb:postgresql /usr/bin/chromium:chromium
         /usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei /usr/bin/zsh:zsh)
fi
missing=()
for pair in "${want[@]}"; do
  target=${pair%%:*}
  [[ -e "$target" ]] || command -v "$target" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  echo "== apt-get install ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "Kennel needs these Debian packages: ${missing[*]}. Run as root or install them." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts services on install; Kennel runs its own instances on loopback.
  systemctl disable --now redis-server postgresql slapd prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
lock_hash=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ "$(cat .venv/.lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  echo "== installing the locked Python dependencies"
  .venv/bin/python -m pip install -q uv==0.13.9
  .venv/bin/uv pip sync -q --python .venv/bin/python requirements.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
  echo "$lock_hash" > .venv/.lock-hash
fi

scripts/cloudinit-schema.sh  # cloud-init's user-data schema into var/, from Debian's package

# Translations: compile when a catalogue is newer than its compiled file.
for po in portal/locale/*/LC_MESSAGES/django.po; do
  [[ -e "$po" ]] || continue
  mo="${po%.po}.mo"
  if [[ ! -e "$mo" || "$po" -nt "$mo" ]]; then
    .venv/bin/python manage.py compilemessages -v0 --ignore=.venv --ignore=var
  fi
done
