#!/usr/bin/env bash
# Build sidelight and start it on config/sidelight.yaml.
#
# With no upstream configured it prints heartbeats on the console for two
# targets that exist on any machine: a demo process this script starts (a
# `sleep` that ends every 20 s and is started again, written to a pidfile, so
# you see DOWN and a restart) and every bash on the machine. sidelight reports
# itself too. The intake sockets go to $SIDELIGHT_RUNTIME_DIR (default
# /tmp/sidelight-run), and the demo sends a log line over NDJSON at each restart,
# so LOG lines show up too. Ctrl-C stops everything.
#
#   scripts/run.sh [sidelight arguments...]      e.g. --log-level debug
#
# To send to a Collector instead:
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 scripts/run.sh -c my.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
source scripts/lib.sh
mkdir -p build
sidelight_build build sidelight >&2

export SIDELIGHT_DEMO_PIDFILE=${SIDELIGHT_DEMO_PIDFILE:-/tmp/sidelight-demo.pid}
export SIDELIGHT_RUNTIME_DIR=${SIDELIGHT_RUNTIME_DIR:-/tmp/sidelight-run}
(
  trap 'kill $child 2>/dev/null; exit 0' TERM INT
  n=0
  while true; do
    sleep 20 &
    child=$!
    echo "$child" >"$SIDELIGHT_DEMO_PIDFILE.tmp"
    mv "$SIDELIGHT_DEMO_PIDFILE.tmp" "$SIDELIGHT_DEMO_PIDFILE"
    # A structured log line, as any app could send it (see README, "Hand over spans and logs").
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [[ -S $SIDELIGHT_RUNTIME_DIR/ndjson.sock ]] && break
      sleep 0.2
    done
    printf '{"level":"info","service":"sidelight-demo","message":"demo started","run":%d,"pid":%d}\n' \
      "$n" "$child" | socat - "UNIX-CONNECT:$SIDELIGHT_RUNTIME_DIR/ndjson.sock" 2>/dev/null || true
    n=$((n + 1))
    wait "$child" || true
  done
) &
demo=$!
trap 'kill $demo 2>/dev/null; rm -f "$SIDELIGHT_DEMO_PIDFILE"' EXIT

config=config/sidelight.yaml
for arg in "$@"; do
  case $arg in -c | --config | --config=*) config= ;; esac
done
echo "[run] demo process: pidfile $SIDELIGHT_DEMO_PIDFILE (restarts every 20 s); Ctrl-C to stop" >&2
echo "[run] intake sockets in $SIDELIGHT_RUNTIME_DIR; try:" >&2
echo "      echo '{\"level\":\"warn\",\"message\":\"hello\"}' | socat - UNIX-CONNECT:$SIDELIGHT_RUNTIME_DIR/ndjson.sock" >&2
if [[ -n $config ]]; then
  build/bin/sidelight run --config "$config" "$@"
else
  build/bin/sidelight run "$@"
fi
