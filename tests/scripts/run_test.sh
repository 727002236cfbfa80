#!/usr/bin/env bash
# scripts/run.sh as a user runs it, then presses Ctrl-C: the demo service crashes and is restarted
# (DOWN, then UP with restarts=1), its log line arrives, and after Ctrl-C no process, pidfile or
# socket is left. Then with OTEL_EXPORTER_OTLP_ENDPOINT set: heartbeats go there, not to the
# console. The demo crashes every 2 s here (SIDELIGHT_DEMO_PERIOD) instead of 20.
#   run_test.sh path/to/sidelight path/to/repo
set -euo pipefail
binary=$1 root=$2
work=$(mktemp -d)
run=
cleanup() {
  [[ -n $run ]] && kill -KILL -- "-$run" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- stdout" >&2; cat "$work/out" >&2; echo "--- stderr" >&2; cat "$work/err" >&2; exit 1; }

# await SECONDS WHAT CMD...: until CMD succeeds, or fail naming WHAT.
await() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "not within ${seconds}s: $what"
    sleep 0.1   # run.sh's output is a file: nothing to await but its growth
  done
}

# start [VAR=value...]: run.sh in a session of its own, as in a terminal (Ctrl-C reaches the
# whole foreground group, which kill -INT -- -PGID does here).
start() {
  : >"$work/out"
  : >"$work/err"
  env "$@" SIDELIGHT_BINARY="$binary" SIDELIGHT_RUNTIME_DIR="$work/run" SIDELIGHT_DEMO_PERIOD=2 \
    SIDELIGHT_ADMIN_LISTEN="unix:$work/admin.sock" \
    setsid "$root/scripts/run.sh" >"$work/out" 2>"$work/err" &
  run=$!
}
ctrl_c() {
  kill -INT -- "-$run"
  local code=0
  wait "$run" || code=$?
  run=
  ((code == 0)) || fail "run.sh exited $code after Ctrl-C"
}
left_behind() {
  [[ -e $work/run ]] && echo "$work/run: $(ls -A "$work/run")"
  pgrep -f "demo-service.sh $work/run" || true
  pgrep -f "$work/run/sidelight-demo" || true
}

start -u OTEL_EXPORTER_OTLP_ENDPOINT
restarted() { grep -q "UP    sidelight-demo pid=[0-9]* uptime=[0-9.]*s restarts=1" "$work/out"; }
await 15 "the demo's restart (UP ... restarts=1) on the console" restarted
grep -q "DOWN  sidelight-demo" "$work/out" || fail "no DOWN line before the restart"
second_log() { grep -q "LOG   sidelight-demo info demo started run=2" "$work/out"; }
await 5 "the demo's log line after its restart" second_log
grep -q "no upstream (OTEL_EXPORTER_OTLP_ENDPOINT is unset): heartbeats on the console" "$work/err" ||
  fail "run.sh did not say where heartbeats go"
[[ $(head -n1 "$work/out") != *DOWN* ]] || fail "the first line is a DOWN: the demo was not up yet"
ctrl_c
[[ -z $(left_behind) ]] || fail "left behind after Ctrl-C: $(left_behind)"
echo "ok: console: crash, restart and log line shown; Ctrl-C left nothing behind"

start OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9
upstream() { grep -q "exporter otlp: OTLP/gRPC to http://127.0.0.1:9" "$work/err"; }
await 10 "the otlp exporter to OTEL_EXPORTER_OTLP_ENDPOINT" upstream
grep -q "exporting over OTLP to http://127.0.0.1:9" "$work/err" || fail "run.sh did not say so"
demo_up() { [[ -s $work/run/demo.pid ]]; }
await 10 "the demo's pidfile" demo_up
ctrl_c
[[ ! -s $work/out ]] || fail "heartbeats were printed although OTEL_EXPORTER_OTLP_ENDPOINT was set"
[[ -z $(left_behind) ]] || fail "left behind after Ctrl-C: $(left_behind)"
echo "ok: OTEL_EXPORTER_OTLP_ENDPOINT: exported there, nothing on the console; nothing left behind"
