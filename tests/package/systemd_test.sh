#!/usr/bin/env bash
# The Debian package under a real systemd: a podman container of the Debian 12 base
# (debian12_base in lib.sh) with systemd as PID 1. `apt-get install ./sidelight.deb` must leave the
# service running in its sandbox as user sidelight with only its two capabilities; its log lines
# reach the journal with their priorities; `systemctl reload` with a bad config keeps it running;
# and when only its event loop's thread is stopped (ptrace, from the host), systemd's watchdog
# kills it and restarts it. Purge stops it.
#
#   tests/package/systemd_test.sh path/to/sidelight_VERSION_ARCH.deb       (as root)
#
# The container gets CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH added to podman's default set: a host's
# PID 1 has every capability, and the unit can only pass on what its manager has.
set -euo pipefail
deb=$(realpath "$1")
source "$(dirname "$0")/lib.sh"
"$repo/scripts/deps.sh" podman runc
base=$(debian12_base)
cache=$(dirname "$base")

# podman on this kind of host: runc (crun refuses the hybrid cgroups) and no default ulimits.
work=$(mktemp -d)
printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
name=sidelight-systemd-test-$$
# The container's root is a fresh copy of the base, thrown away after: no image is stored.
root=$(mktemp -d /var/tmp/sidelight-systemd-test.XXXXXX)
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work" "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
podman run -d --name "$name" --runtime runc --systemd=always \
  --cap-add SYS_PTRACE,DAC_READ_SEARCH \
  -v "$cache/archives:/var/cache/apt/archives" --rootfs "$root" /lib/systemd/systemd >/dev/null
in_box() { podman exec "$name" env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

booted() { [[ $(in_box systemctl is-system-running) =~ ^(running|degraded)$ ]]; }
await 60 "systemd up in the container" booted
ok "systemd is PID 1 in the container ($(in_box systemctl --version | head -n1))"

# ---- install: the postinst starts the service (Type=notify: started means READY=1 arrived)
podman cp "$deb" "$name:/tmp/sidelight.deb"
in_box apt-get -qq update >/dev/null
in_box apt-get -qq -o Dpkg::Use-Pty=0 install -y /tmp/sidelight.deb >/dev/null 2>&1 ||
  fail "apt-get install failed"
prop() { in_box systemctl show -p "$1" --value sidelight; }
[[ $(prop ActiveState)/$(prop SubState) == active/running ]] ||
  fail "sidelight.service is $(prop ActiveState)/$(prop SubState) after apt-get install"
main=$(prop MainPID)
[[ $(in_box ps -o user= -p "$main") == sidelight ]] || fail "the agent does not run as sidelight"
capeff=$(in_box grep CapEff "/proc/$main/status" | awk '{print $2}')
[[ $capeff == 0000000000080004 ]] || fail "CapEff $capeff, not CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH"
in_box sidelight status >/dev/null || fail "sidelight status: no answer from the admin endpoint"
ok "apt-get install started sidelight.service: active/running as sidelight, CapEff $capeff, admin answers"
score=$(in_box systemd-analyze security --threshold=20 sidelight 2>&1 | tail -n1) ||
  fail "systemd-analyze security on the running unit: $score"
ok "systemd-analyze security on the running unit: ${score#*: }"

# ---- the journal: priorities, and a bad config refused by reload while the agent runs on
in_box cp /etc/sidelight/sidelight.yaml /tmp/good.yaml
in_box sh -c 'echo "bogus: [" >>/etc/sidelight/sidelight.yaml'
in_box systemctl reload sidelight
errors() { in_box journalctl -u sidelight -p err -o cat --no-pager | grep -q "reload refused"; }
await 10 "the refused reload logged at priority err" errors
[[ $(prop MainPID) == "$main" && $(prop ActiveState) == active ]] ||
  fail "a refused reload stopped or replaced the agent"
in_box journalctl -u sidelight -p info -o cat --no-pager | grep -q "starting with" ||
  fail "the start is not in the journal at priority info"
! in_box journalctl -u sidelight -p warning -o cat --no-pager | grep -q "starting with" ||
  fail "an info line shows with -p warning: the priority prefix was not read"
in_box cp /tmp/good.yaml /etc/sidelight/sidelight.yaml
ok "journalctl -p err shows the refused reload, -p warning leaves out info lines; agent kept running"

# ---- the watchdog: stop the event loop's thread alone; systemd must kill and restart the agent
in_box mkdir -p /etc/systemd/system/sidelight.service.d
in_box sh -c 'printf "[Service]\nWatchdogSec=2s\n" >/etc/systemd/system/sidelight.service.d/test.conf'
in_box systemctl daemon-reload
in_box systemctl restart sidelight
main=$(prop MainPID)
restarts=$(prop NRestarts)
# READY=1 comes just before the watchdog starts: stop the loop only once it has.
watching() { in_box journalctl "_PID=$main" -o cat --no-pager | grep -q "watchdog: telling systemd"; }
await 10 "the agent's watchdog started" watching
# Healthy, it must outlive three watchdog timeouts: its pings reach systemd. (A window of absence:
# nothing to await but the kill that must not come.)
sleep 6
[[ $(prop MainPID) == "$main" && $(prop NRestarts) == "$restarts" ]] ||
  fail "the healthy agent was restarted: its WATCHDOG=1 does not reach systemd"
host_pid=$(podman top "$name" hpid pid | awk -v p="$main" '$2 == p { print $1 }')
[[ -n $host_pid ]] || fail "no host PID for the agent's PID $main"
python3 "$here/stop_thread.py" "$host_pid" 20 || fail "the stopped event loop did not get the agent killed"
restarted() { [[ $(prop NRestarts) -gt $restarts && $(prop ActiveState) == active ]]; }
await 20 "a restart after the watchdog's kill" restarted
# The journal takes PID 1's and the agent's lines in on their own time: await them too.
logged() { in_box journalctl -u sidelight -o cat --no-pager | grep -q "$1"; }
await 10 "systemd logging the watchdog timeout" logged "Watchdog timeout"
await 10 "sidelight logging what made no progress" logged "watchdog: no progress from event loop"
ok "healthy, the agent outlived 3 watchdog timeouts; its event loop stopped, it logged it, systemd's watchdog killed it and restarted it (PID $main -> $(prop MainPID))"

# ---- purge stops it
in_box apt-get -qq -o Dpkg::Use-Pty=0 purge -y sidelight >/dev/null 2>&1 || fail "apt-get purge failed"
[[ $(prop ActiveState) == inactive ]] || fail "purge left sidelight.service $(prop ActiveState)"
in_box getent passwd sidelight >/dev/null || fail "purge deleted the sidelight user"
ok "purge stopped the service; the user stays"
