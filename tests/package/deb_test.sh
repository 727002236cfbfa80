#!/usr/bin/env bash
# The Debian package, installed as an operator would install it: `apt-get install ./sidelight.deb`
# in a throwaway Debian 12 root (debian12_base in lib.sh: mmdebstrap, cached as a tarball under
# $SIDELIGHT_CACHE/debian12, so only the first run downloads it), each step in a chroot with a
# private mount and PID namespace. Checks the files, the conffile, the sidelight user, that
# `sidelight --version` runs, systemd-analyze verify and security on the installed unit, that the
# agent starts on the shipped config as user sidelight with the unit's capabilities, that an
# upgrade keeps an edited config, and that remove keeps the config and the user while purge
# leaves no file of the package behind.
#
#   tests/package/deb_test.sh path/to/sidelight_VERSION_ARCH.deb       (as root)
set -euo pipefail
deb=$(realpath "$1")
source "$(dirname "$0")/lib.sh"
base=$(debian12_base)
cache=$(dirname "$base")

root=$(mktemp -d /var/tmp/sidelight-deb-test.XXXXXX)
cleanup() { rm -rf "$root"; }
trap cleanup EXIT
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
pkg=/tmp/$(basename "$deb")

# in_root [--isolated] CMD...: CMD in the root, with its own /proc and the host's /dev; the apt
# archive is the cache's. --isolated: also a network of its own (loopback only), so that the
# agent's admin port cannot meet the host's.
in_root() {
  local net=() isolated=0
  if [[ $1 == --isolated ]]; then net=(--net) isolated=1; shift; fi
  unshare --mount --pid --fork "${net[@]}" --mount-proc="$root/proc" -- \
    bash -c 'set -e; root=$1 isolated=$2; shift 2
             if ((isolated)); then ip link set lo up; fi
             mount --rbind /dev "$root/dev"
             mount --bind "$CACHE_ARCHIVES" "$root/var/cache/apt/archives"
             exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
               DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes LC_ALL=C.UTF-8 "$@"' \
    _ "$root" "$isolated" "$@"
}
export CACHE_ARCHIVES=$cache/archives
apt_get() { in_root apt-get -qq -o Dpkg::Use-Pty=0 "$@" >/dev/null; }

# ---- dependencies first, so that a snapshot shows what the package itself adds
apt_get update
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/ //g')
# shellcheck disable=SC2086
apt_get install -y --no-install-recommends $depends
snapshot() {
  # /run is runtime state (a tmpfs on a real host), not files of a package.
  in_root find / -xdev \( -path /proc -o -path /dev -o -path /run -o -path /tmp -o -path /var/cache \
    -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log \) -prune -o -print |
    sort
}
snapshot >"$root.before"
trap 'rm -rf "$root" "$root.before" "$root.after" "$root.agent"' EXIT

# ---- install
apt_get install -y "$pkg"
ok "apt-get install ./$(basename "$deb") with $(dpkg-deb -f "$deb" Depends)"

for f in /usr/bin/sidelight /lib/systemd/system/sidelight.service /etc/sidelight/sidelight.yaml \
  /usr/share/man/man1/sidelight.1.gz /usr/share/doc/sidelight/README.md \
  /usr/share/doc/sidelight/OPERATIONS.md /usr/share/doc/sidelight/copyright \
  /usr/share/doc/sidelight/changelog.Debian.gz /usr/share/doc/sidelight/examples/sidelight.yaml; do
  [[ -e $root$f ]] || fail "$f is not installed"
done
for d in prometheus grafana; do
  if [[ -d $repo/config/$d ]] && [[ -n $(ls -A "$repo/config/$d") ]]; then
    diff -r "$repo/config/$d" "$root/usr/share/sidelight/$d" >/dev/null ||
      fail "config/$d/ is not installed whole in /usr/share/sidelight/$d"
  fi
done
ok "files in place ($(in_root dpkg -L sidelight | wc -l) paths)"

conffiles=$(in_root dpkg-query -W -f='${Conffiles}' sidelight)
grep -q '^ /etc/sidelight/sidelight.yaml ' <<<"$conffiles" || fail "no conffile: $conffiles"
[[ $(in_root stat -c '%U:%G %a' /etc/sidelight/sidelight.yaml) == "root:sidelight 640" ]] ||
  fail "config is $(in_root stat -c '%U:%G %a' /etc/sidelight/sidelight.yaml), not root:sidelight 640"
ok "/etc/sidelight/sidelight.yaml is a conffile, root:sidelight 0640"

IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd sidelight) ||
  fail "no sidelight user"
((uid < 1000)) || fail "sidelight is not a system user (uid $uid)"
[[ $(in_root getent group sidelight | cut -d: -f3) == "$gid" ]] || fail "no sidelight group"
[[ $shell == /usr/sbin/nologin && $home == /var/lib/sidelight ]] ||
  fail "sidelight's shell/home: $shell $home"
ok "system user sidelight (uid $uid, group $gid, $shell)"

version=$(in_root sidelight --version)
[[ $version == "sidelight $(dpkg-deb -f "$deb" Version | cut -d- -f1)" ]] ||
  fail "sidelight --version printed '$version'"
ok "$version"

[[ -L $root/etc/systemd/system/multi-user.target.wants/sidelight.service ]] ||
  fail "the unit is not enabled"
ok "sidelight.service enabled (deb-systemd-helper)"

out=$(in_root systemd-analyze verify /lib/systemd/system/sidelight.service 2>&1 || true)
problems=$(grep -F sidelight.service <<<"$out" | grep -v 'Failed to connect' || true)
[[ -z $problems ]] || fail "systemd-analyze verify: $problems"
ok "systemd-analyze verify: no problem in the installed unit (man page found)"
"$repo/tests/systemd/security.sh" --root "$root" | tail -n1

# ---- the agent as the unit runs it: user sidelight, the unit's capabilities and no other
# (/run/sidelight made for it as RuntimeDirectory= would). First on the shipped config; then
# watching a root process, with and without those capabilities, to show each is needed.
caps=$(sed -n 's/^AmbientCapabilities=//p' "$root/lib/systemd/system/sidelight.service" |
  tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
cat >"$root/tmp/watch-root.yaml" <<'YAML'
heartbeat: { interval: 1s }
targets: [{ name: root-sleep, pidfile: /tmp/root-sleep.pid }]
exporters: { file: { path: "${env:OUT}" } }
admin: { listen: "" }
YAML
in_root --isolated bash -c '
  set -e
  caps=$1
  as_sidelight() {  # run in the background, so exec: $! is then the agent
    exec setpriv --reuid=sidelight --regid=sidelight --init-groups --inh-caps=$caps \
      --ambient-caps=$caps --bounding-set=-all,$caps "$@"
  }
  install -d -o sidelight -g sidelight -m 0755 /run/sidelight
  as_sidelight sidelight run --config /etc/sidelight/sidelight.yaml >/tmp/agent.log 2>&1 &
  agent=$!
  for _ in $(seq 100); do
    sidelight status >/dev/null 2>&1 && break
    sleep 0.1   # nothing to await but the admin port
  done
  sidelight status >/dev/null || { cat /tmp/agent.log; echo "no admin endpoint"; exit 1; }
  for s in otlp.sock otlp-http.sock ndjson.sock ndjson.dgram; do
    [ "$(stat -c "%U:%G %a" /run/sidelight/$s)" = "sidelight:sidelight 660" ] ||
      { stat /run/sidelight/$s; exit 1; }
  done
  grep "^CapEff" /proc/$agent/status
  kill -TERM $agent
  wait $agent

  sleep 600 &
  echo $! >/tmp/root-sleep.pid
  chmod 0644 /tmp/root-sleep.pid
  watch_root() {  # OUTPUT_FILE COMMAND...: run until a heartbeat of root-sleep is in the file
    out=$1; shift
    : >"$out"; chown sidelight "$out"
    OUT=$out "$@" sidelight run --config /tmp/watch-root.yaml >>/tmp/agent.log 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      grep -q root-sleep "$out" && break
      sleep 0.1   # the file grows; nothing else to await
    done
    kill -TERM $pid; wait $pid
    grep -q root-sleep "$out" || { cat /tmp/agent.log; echo "no heartbeat in $out"; exit 1; }
  }
  watch_root /tmp/with-caps.jsonl as_sidelight
  without_caps() { exec setpriv --reuid=sidelight --regid=sidelight --init-groups "$@"; }
  watch_root /tmp/without-caps.jsonl without_caps
' _ "$caps" >"$root.agent" 2>&1 || { cat "$root.agent"; fail "the agent did not run as sidelight"; }
[[ $(grep CapEff "$root.agent") == *0000000000080004 ]] ||
  fail "effective capabilities $(grep CapEff "$root.agent"), not CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
ok "the agent runs as sidelight on the shipped config with only $caps: admin up, intake sockets sidelight:sidelight 0660, clean stop"
# What watching a root process as sidelight gives, with the unit's capabilities and without.
python3 - "$root/tmp/with-caps.jsonl" "$root/tmp/without-caps.jsonl" <<'PY' || fail "capabilities"
import json, os, re, sys
def seen(path):
    """The root-sleep resource's attribute keys and metric names in an OTLP/JSON file."""
    keys, metrics = set(), set()
    for line in open(path):
        for rm in json.loads(line).get("resourceMetrics", []):
            attrs = {a["key"]: a["value"] for a in rm["resource"]["attributes"]}
            if attrs.get("service.name", {}).get("stringValue") != "root-sleep":
                continue
            keys |= set(attrs)
            metrics |= {m["name"] for sm in rm["scopeMetrics"] for m in sm["metrics"]}
    return keys, metrics
needs = {"process.executable.path": "CAP_SYS_PTRACE",
         "process.unix.file_descriptor.count": "CAP_DAC_READ_SEARCH"}
with_caps, without = [set().union(*seen(p)) for p in sys.argv[1:]]
# Since Linux 6.2 the size of /proc/PID/fd is its count of descriptors, which sidelight reads
# without listing the directory: there the count needs no capability (the socket search still
# lists it, and needs CAP_DAC_READ_SEARCH).
kernel = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
if kernel >= (6, 2):
    needs.pop("process.unix.file_descriptor.count")
    if "process.unix.file_descriptor.count" not in with_caps | without:
        sys.exit("process.unix.file_descriptor.count of a root process is missing")
    print(f"ok: process.unix.file_descriptor.count of a root process: seen, from /proc/PID/fd's "
          f"size on Linux {os.uname().release} (no capability needed)")
for name, cap in needs.items():
    if name not in with_caps:
        sys.exit(f"with the unit's capabilities, {name} of a root process is missing")
    if name in without:
        sys.exit(f"without {cap}, {name} of a root process was seen: is {cap} needed?")
    print(f"ok: {name} of a root process: seen with {cap}, not without")
PY
# ---- an upgrade (the same version again) keeps an edited config and its permissions
echo "# edited by the operator" >>"$root/etc/sidelight/sidelight.yaml"
apt_get install -y --reinstall -o Dpkg::Options::=--force-confold "$pkg"
grep -q "edited by the operator" "$root/etc/sidelight/sidelight.yaml" ||
  fail "reinstalling replaced the edited config"
[[ $(in_root stat -c '%U:%G %a' /etc/sidelight/sidelight.yaml) == "root:sidelight 640" ]] ||
  fail "reinstalling changed the config's owner or mode"
ok "reinstall keeps the edited conffile, root:sidelight 0640"

# ---- remove: binary gone, config and user kept, unit masked
apt_get remove -y sidelight
[[ ! -e $root/usr/bin/sidelight ]] || fail "remove left /usr/bin/sidelight"
[[ -e $root/etc/sidelight/sidelight.yaml ]] || fail "remove deleted the conffile"
in_root getent passwd sidelight >/dev/null || fail "remove deleted the sidelight user"
[[ $(readlink "$root/etc/systemd/system/sidelight.service") == /dev/null ]] ||
  fail "remove did not mask the unit"
ok "remove: binary gone; config, user kept; unit masked"

# ---- purge: nothing of the package left, but the user
in_root mkdir -p /var/lib/sidelight/spool /var/log/sidelight   # as the service would have made
in_root dpkg --purge sidelight >/dev/null
[[ -z $(in_root dpkg-query -W -f='${db:Status-Status}' sidelight 2>/dev/null) ]] ||
  [[ $(in_root dpkg-query -W -f='${db:Status-Status}' sidelight) == not-installed ]] ||
  fail "sidelight is still known to dpkg after purge"
in_root getent passwd sidelight >/dev/null || fail "purge deleted the sidelight user"
[[ -z $(in_root dpkg-statoverride --list /etc/sidelight/sidelight.yaml || true) ]] ||
  fail "purge left the statoverride"
[[ ! -e $root/var/log/sidelight && ! -e $root/var/lib/sidelight ]] ||
  fail "purge left /var/log/sidelight or /var/lib/sidelight"
snapshot >"$root.after"
# The user stays by design, and with it the shadow tools' backups of the files they edited.
left=$(diff "$root.before" "$root.after" | grep -Ev '^[<>] /etc/(passwd|group|shadow|gshadow)-$' |
  grep '^[<>]' || true)
[[ -z $left ]] || fail "purge left (or removed) files: $left"
ok "purge: no file of the package left; the sidelight user stays"
