#!/usr/bin/env bash
# The shipped alert rules, as Prometheus reads them: `promtool check rules` on each rule file, then
# `promtool test rules` on its unit tests (tests/prometheus/*.test.yml), whose input series are
# shaped like sidelight's /metrics and like its OTLP metrics as Prometheus stores them.
#   rules_test.sh path/to/repo
set -euo pipefail
root=$1
promtool=$("$root/scripts/interop/promtool.sh")
status=0
for rules in "$root"/config/prometheus/*.yml; do
  "$promtool" check rules "$rules" || status=1
  test=$root/tests/prometheus/$(basename "$rules" .yml).test.yml
  if [[ ! -f $test ]]; then
    echo "FAIL: $rules has no unit tests ($test)"
    status=1
    continue
  fi
  (cd "$(dirname "$test")" && "$promtool" test rules "$(basename "$test")") || status=1
  # Every alert has a case where it fires and one where it must not (`exp_alerts: []`).
  for alert in $(sed -n 's/^ *- alert: *//p' "$rules"); do
    read -r fires silent < <(awk -v a="$alert" '
      prev ~ "alertname: " a "$" { if ($0 ~ /exp_alerts: *\[\]/) s++; else f++ }
      { prev = $0 } END { print f + 0, s + 0 }' "$test")
    if ((fires == 0 || silent == 0)); then
      echo "FAIL: $alert in $(basename "$test"): $fires case(s) where it fires, $silent where it must not"
      status=1
    fi
  done
done
((status == 0)) && echo "ok: every alert rule file checks and passes its unit tests"
exit "$status"
