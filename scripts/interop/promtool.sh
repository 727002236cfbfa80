#!/usr/bin/env bash
# Prints the path of Prometheus' promtool, from Debian 12's `prometheus` package. The package is
# unpacked into the cache (~/.cache/sidelight/promtool), not installed: installing it would also
# set up and start a Prometheus server, which the tests do not want.
set -euo pipefail
cache=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/promtool
bin=$cache/usr/bin/promtool
if [[ -x $bin ]] && "$bin" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[promtool] fetching Debian's prometheus package for promtool" >&2
(cd "$work" && apt-get download prometheus >/dev/null 2>&1) || {
  sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >&2
  (cd "$work" && apt-get download prometheus >&2)
}
dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
mkdir -p "$cache/usr/bin"
cp "$work/x/usr/bin/promtool" "$bin"
"$bin" --version >&2
echo "$bin"
