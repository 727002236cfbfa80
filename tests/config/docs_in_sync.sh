#!/usr/bin/env bash
# The key tables of docs/CONFIGURATION.md and the `##` comments of config/sidelight.yaml are
# generated from the key tables in agent/config/. Fails, printing the difference, when either
# committed file is not what the tables make of it.
# Usage: docs_in_sync.sh SIDELIGHT_BINARY SOURCE_DIR
set -euo pipefail
binary=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for pair in "--markdown docs/CONFIGURATION.md" "--yaml config/sidelight.yaml"; do
  read -r flag file <<<"$pair"
  if ! "$binary" config-reference "$flag" "$root/$file" >"$work/out"; then
    echo "FAIL: sidelight config-reference $flag $file refused the file (above)" >&2
    status=1
    continue
  fi
  if ! diff -u --label "$file (committed)" --label "$file (from the key tables)" \
    "$root/$file" "$work/out"; then
    echo "FAIL: $file is not what the key tables make of it; regenerate it with:" >&2
    echo "  build/bin/sidelight config-reference $flag $file --write" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "docs/CONFIGURATION.md and config/sidelight.yaml match the key tables"
exit $status
