#!/usr/bin/env bash
# Prints the node_modules directory holding the OpenTelemetry JavaScript SDK packages pinned in
# tests/interop/sdk/js/package.json, installed from the npm registry into a directory cached under
# ~/.cache/sidelight (a change to package.json makes a new one). Run the client with NODE_PATH set
# to the printed directory.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pkg=$root/tests/interop/sdk/js/package.json
hash=$(sha256sum "$pkg" | cut -c1-12)
dir=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/npm-$hash
if [[ -f $dir/.complete ]]; then
  echo "$dir/node_modules"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -qq nodejs npm >&2
fi
rm -rf "$dir"
mkdir -p "$dir"
cp "$pkg" "$dir/package.json"
echo "[sdk] installing the OpenTelemetry JavaScript SDK into $dir from npm" >&2
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
touch "$dir/.complete"
echo "$dir/node_modules"
