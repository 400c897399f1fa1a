#!/usr/bin/env bash
# cloud-init's own JSON schema for user-data, taken from Debian's cloud-init package without installing it:
# installing the package would enable cloud-init's boot services on this host. cloud-init is not on PyPI.
#
#   var/cloud-init/schema-cloud-config-v1.json   read by provisioning.cloudinit (KENNEL_CLOUDINIT_SCHEMA)
#   var/cloud-init/tree/                         the package unpacked, plus python3-configobj, so the tests
#                                                can cross-check with the real `cloud-init schema` CLI
#
# Idempotent: does nothing when the schema is already there. Needs apt's package lists (runs
# `apt-get update` once when root and the package is unknown).
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${KENNEL_VAR_DIR:-var}/cloud-init
schema=$dest/schema-cloud-config-v1.json
[[ -s "$schema" ]] && exit 0

echo "== cloud-init schema from Debian's package"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() {
  # apt's download sandbox user cannot write into a root-owned temporary directory; download as ourselves.
  (cd "$work" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" cloud-init python3-configobj)
}
if ! download 2>/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "apt-get download cloud-init failed; run 'apt-get update' as root, then run $0 again." >&2
    exit 1
  fi
  apt-get update -qq
  download
fi

mkdir -p "$work/tree"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/tree"
done
packaged=$work/tree/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json
[[ -s "$packaged" ]] || { echo "no schema-cloud-config-v1.json in $(ls "$work"/cloud-init_*.deb)" >&2; exit 1; }

mkdir -p "$dest"
rm -rf "$dest/tree"
mv "$work/tree" "$dest/tree"
basename "$work"/cloud-init_*.deb > "$dest/VERSION"
# The schema last: its presence is what marks the job done.
cp "$dest/tree/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json" "$schema.tmp"
mv "$schema.tmp" "$schema"
