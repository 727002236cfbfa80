# Shared by the package tests (sourced): messages, a bounded await, the root check, and the
# Debian 12 base they install into.
# shellcheck shell=bash
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[[ $(id -u) -eq 0 ]] || fail "$(basename "$0") needs root (chroot, mounts, podman); run it with sudo"

# await SECONDS WHAT CMD...: runs CMD until it succeeds; fails naming WHAT after SECONDS.
await() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "not within ${seconds}s: $what"
    sleep 0.2   # polling state from outside (systemd's, the journal's): no event to wait on
  done
}

# Prints the path of a Debian 12 base root as a tarball (mmdebstrap minbase, with systemd for
# systemd-analyze and as PID 1 in a container, and man-db so that verify finds the man page),
# made once and cached under $SIDELIGHT_CACHE/debian12/. Next to it, archives/ caches apt's
# downloads for the tests that install into it.
debian12_base() {
  local cache=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/debian12
  "$repo/scripts/deps.sh" mmdebstrap
  local mirrors=(
    "deb http://deb.debian.org/debian bookworm main"
    "deb http://deb.debian.org/debian bookworm-updates main"
    "deb http://deb.debian.org/debian-security bookworm-security main"
  )
  local include=systemd,man-db
  local key base
  key=$(printf '%s\n' "${mirrors[@]}" "$include" | sha256sum | cut -c1-12)
  base=$cache/base-$key.tar
  mkdir -p "$cache/archives/partial"
  if [[ ! -s $base ]]; then
    echo "[package-test] creating the Debian 12 base in $base (once)" >&2
    mmdebstrap --quiet --variant=minbase --format=tar --include="$include" bookworm "$base.tmp" \
      "${mirrors[@]}" >&2
    mv "$base.tmp" "$base"
  fi
  echo "$base"
}
