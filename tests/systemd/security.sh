#!/usr/bin/env bash
# systemd-analyze security on sidelight.service: the overall exposure must stay at 2.0 or lower
# ("OK"), so that no change to the unit loosens it unnoticed. Prints the score and each setting
# that still costs exposure (docs/OPERATIONS.md says why each stays).
#   security.sh UNIT_FILE               the unit in the source tree
#   security.sh --root DIR              the unit installed in a root file system
set -euo pipefail
max_tenths=20   # 2.0
args=()
if [[ $1 == --root ]]; then
  args=(--root="$2" sidelight.service)
else
  args=("$1")
fi
rc=0
out=$(systemd-analyze security --offline=yes --threshold=$max_tenths "${args[@]}" 2>&1) || rc=$?
score=$(sed -n 's/.*Overall exposure level for sidelight.service: \([0-9.]*\).*/\1/p' <<<"$out")
if [[ -z $score ]]; then
  echo "$out" >&2
  echo "FAIL: systemd-analyze security printed no overall exposure level" >&2
  exit 1
fi
grep -F '✗' <<<"$out" | sed 's/  */ /g' || true
if ((rc != 0)); then
  echo "FAIL: exposure $score is above 2.0 (systemd-analyze security --threshold=$max_tenths exit $rc)" >&2
  exit 1
fi
echo "ok: systemd-analyze security: exposure $score (at most 2.0)"
