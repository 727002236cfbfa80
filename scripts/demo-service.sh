#!/usr/bin/env bash
# The demo service scripts/run.sh has sidelight watch, with this script as its service manager:
# it starts the service (a copy of sleep named sidelight-demo), writes its PID to PIDFILE, and
# every PERIOD seconds (default 20) the service crashes (SIGKILL) and is started again 2 s later
# with a new PID, as systemd's Restart=on-failure would. At each start it hands sidelight one log
# line over the NDJSON socket, as any app can. Ends, with its service, on SIGTERM.
#
#   scripts/demo-service.sh PIDFILE NDJSON_SOCKET [PERIOD]
set -euo pipefail
pidfile=$1 socket=$2 period=${3:-20}
bin=$(dirname "$pidfile")/sidelight-demo
cp /bin/sleep "$bin"
child=
trap '[[ -n $child ]] && kill -KILL "$child" 2>/dev/null; exit 0' TERM INT
for ((run = 1; ; run++)); do
  "$bin" 3600 &
  child=$!
  echo "$child" >"$pidfile.tmp"
  mv "$pidfile.tmp" "$pidfile"
  for _ in $(seq 50); do
    [[ -S $socket ]] && break
    sleep 0.1   # sidelight creates the socket at its start; nothing else to wait on
  done
  printf '{"level":"info","service":"sidelight-demo","message":"demo started","run":%d,"pid":%d}\n' \
    "$run" "$child" | socat -u - "UNIX-CONNECT:$socket" 2>/dev/null || true
  sleep "$period" & wait $!
  kill -KILL "$child"
  wait "$child" 2>/dev/null || true
  child=
  sleep 2 & wait $!
done
