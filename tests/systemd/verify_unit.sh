#!/usr/bin/env bash
# systemd-analyze verify on systemd/sidelight.service, with the paths pointed at this build
# (verify checks that the executables exist). The man page is checked where it is installed
# (tests/package/deb_test.sh), so not here.
set -euo pipefail
root=$1 binary=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s|/usr/bin/sidelight|$binary|g" -e "s|/etc/sidelight/sidelight.yaml|$root/config/host.yaml|g" \
  "$root/systemd/sidelight.service" >"$work/sidelight.service"
out=$(systemd-analyze verify --man=no "$work/sidelight.service" 2>&1 || true)
# Without systemd as PID 1 (containers), verify still parses the unit; keep only problems
# about the unit itself.
problems=$(grep -F "sidelight.service" <<<"$out" | grep -v -e 'Failed to connect' || true)
if [[ -n $problems ]]; then
  echo "$problems" >&2
  exit 1
fi
echo "ok: systemd-analyze verify found no problem in sidelight.service"
# ExecStartPre= checks the installed config (config/host.yaml) the same way.
"$binary" check-config --config "$root/config/host.yaml"
