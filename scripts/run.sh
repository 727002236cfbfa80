#!/usr/bin/env bash
# Build sidelight and run it on config/sidelight.yaml, watching a demo service and itself.
#
# The demo service (scripts/demo-service.sh) crashes every 20 s and is restarted 2 s later with a
# new PID in its pidfile, so you see it go DOWN, come back UP with restarts=1 and its uptime reset,
# and the log line it hands sidelight at each start.
#
# Where the heartbeats go: the shipped config names no exporter, so OTEL_EXPORTER_OTLP_ENDPOINT
# decides. Unset, they are printed on the console; set, they go to that OTLP endpoint, e.g. a
# Collector, and nothing is printed but sidelight's log:
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 scripts/run.sh
# With -c FILE, that file's exporters decide instead.
#
# The intake sockets are in /tmp/sidelight-run ($SIDELIGHT_RUNTIME_DIR), the paths the README's
# examples use; the admin endpoint is 127.0.0.1:13133 (build/bin/sidelight status). Ctrl-C stops
# sidelight after its final export, then the demo; the pidfile and the sockets go with them.
#
#   scripts/run.sh [sidelight run arguments...]      e.g. --log-level debug, or -c my.yaml
#
# For its test (tests/scripts/run_test.sh): SIDELIGHT_BINARY runs that binary instead of building
# one, SIDELIGHT_DEMO_PERIOD makes the demo crash every that many seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${SIDELIGHT_BINARY:-}
if [[ -z $binary ]]; then
  scripts/deps.sh
  source scripts/lib.sh
  sidelight_build build sidelight >&2
  binary=build/bin/sidelight
fi

export SIDELIGHT_RUNTIME_DIR=${SIDELIGHT_RUNTIME_DIR:-/tmp/sidelight-run}
export SIDELIGHT_DEMO_PIDFILE=$SIDELIGHT_RUNTIME_DIR/demo.pid
made_dir=0
[[ -d $SIDELIGHT_RUNTIME_DIR ]] || made_dir=1
mkdir -p "$SIDELIGHT_RUNTIME_DIR"

demo=
cleanup() {
  if [[ -n $demo ]]; then
    kill -TERM -- "-$demo" 2>/dev/null || true   # its own process group: the service too
    wait "$demo" 2>/dev/null || true
  fi
  rm -f "$SIDELIGHT_DEMO_PIDFILE" "$SIDELIGHT_RUNTIME_DIR/sidelight-demo"
  if ((made_dir)); then rm -rf "$SIDELIGHT_RUNTIME_DIR"; fi
}
trap cleanup EXIT
# In a session of its own: Ctrl-C reaches sidelight, which exports a last time, while the demo
# keeps its state until cleanup() stops it.
setsid scripts/demo-service.sh "$SIDELIGHT_DEMO_PIDFILE" "$SIDELIGHT_RUNTIME_DIR/ndjson.sock" \
  "${SIDELIGHT_DEMO_PERIOD:-20}" &
demo=$!
for _ in $(seq 50); do
  [[ -s $SIDELIGHT_DEMO_PIDFILE ]] && break
  sleep 0.1   # the demo writes its pidfile at once; sidelight then starts with it up
done

config=(--config config/sidelight.yaml)
for arg in "$@"; do
  case $arg in -c | --config | --config=*) config=() ;; esac
done
if ((${#config[@]})); then
  if [[ -n ${OTEL_EXPORTER_OTLP_ENDPOINT:-} ]]; then
    echo "[run] exporting over OTLP to $OTEL_EXPORTER_OTLP_ENDPOINT (OTEL_EXPORTER_OTLP_ENDPOINT)" >&2
  else
    echo "[run] no upstream (OTEL_EXPORTER_OTLP_ENDPOINT is unset): heartbeats on the console" >&2
  fi
fi
echo "[run] demo service: crashes every ${SIDELIGHT_DEMO_PERIOD:-20} s, restarted 2 s later; Ctrl-C to stop" >&2
echo "[run] intake sockets in $SIDELIGHT_RUNTIME_DIR; try:" >&2
echo "      echo '{\"level\":\"warn\",\"message\":\"hello\"}' | socat - UNIX-CONNECT:$SIDELIGHT_RUNTIME_DIR/ndjson.sock" >&2
# Not exec: cleanup() runs when sidelight has stopped.
"$binary" run "${config[@]}" "$@"
