#!/usr/bin/env bash
# /metrics of a running sidelight, checked by Prometheus' own promtool (`check metrics` parses the
# exposition format and lints names, types and help), and against the names the shipped alerts
# and dashboard use (tests/prometheus/metric_names.txt): a rename that leaves them behind fails.
#   promtool_test.sh path/to/sidelight path/to/repo
set -euo pipefail
binary=$1 root=$2
promtool=$("$root/scripts/interop/promtool.sh")
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
sleep 600 &
target=$!
cat >"$work/sidelight.yaml" <<YAML
exporters: { console: {} }
admin: { listen: "unix:$work/admin.sock" }
intake: { ndjson: { unix: "$work/ndjson.sock" } }
targets:
  - name: prom-target
    pid: $target
    http: { url: "http://127.0.0.1:9/healthz", timeout: 100ms }   # nothing answers: degraded
  - name: prom-gone
    pidfile: $work/none.pid
YAML
"$binary" run --config "$work/sidelight.yaml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [[ -S $work/admin.sock ]] && break
  sleep 0.05   # nothing to await but the socket appearing
done
[[ -S $work/admin.sock ]] || { echo "FAIL: no admin socket within 5 s"; cat "$work/log"; exit 1; }
curl -sf --unix-socket "$work/admin.sock" http://sidelight/metrics >"$work/metrics"
kill "$target"
if ! "$promtool" check metrics <"$work/metrics"; then
  echo "FAIL: promtool found problems in /metrics:"; cat "$work/metrics"; exit 1
fi
grep -q "^sidelight_target_up{target=\"prom-target\",.*} 1$" "$work/metrics" ||
  { echo "FAIL: prom-target is not up in /metrics"; cat "$work/metrics"; exit 1; }
grep -q "^sidelight_target_up{target=\"prom-gone\",.*} 0$" "$work/metrics" ||
  { echo "FAIL: prom-gone is not down in /metrics"; cat "$work/metrics"; exit 1; }
grep -q "^sidelight_target_probe_failures_total{target=\"prom-target\",service=\"prom-target\"} " \
  "$work/metrics" ||
  { echo "FAIL: prom-target's probe has no failures series in /metrics"; cat "$work/metrics"; exit 1; }
missing=()
while read -r name; do
  [[ $name == sidelight_* ]] || continue
  grep -q "^$name[{ ]" "$work/metrics" || missing+=("$name")
done < <(grep -v '^#' "$root/tests/prometheus/metric_names.txt")
if ((${#missing[@]})); then
  echo "FAIL: /metrics lacks names the alerts and dashboard use: ${missing[*]}"; cat "$work/metrics"
  exit 1
fi
echo "ok: promtool accepts /metrics, which has every name the alerts and dashboard use"
