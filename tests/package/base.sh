#!/usr/bin/env bash
# Prints the path of a Debian 12 base root as a tarball (mmdebstrap minbase, with systemd for
# systemd-analyze and as PID 1 in a container, and man-db so that verify finds the man page),
# made once and cached under $SIDELIGHT_CACHE/debian12/. Next to it, archives/ caches apt's
# downloads for the tests that install into it. Needs root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/debian12
"$repo/scripts/deps.sh" mmdebstrap
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
include=systemd,man-db
key=$(printf '%s\n' "${mirrors[@]}" "$include" | sha256sum | cut -c1-12)
base=$cache/base-$key.tar
mkdir -p "$cache/archives/partial"
if [[ ! -s $base ]]; then
  echo "[package-test] creating the Debian 12 base in $base (once)" >&2
  mmdebstrap --quiet --variant=minbase --format=tar --include="$include" bookworm "$base.tmp" \
    "${mirrors[@]}" >&2
  mv "$base.tmp" "$base"
fi
echo "$base"
