# Shared by the scripts that build and run images (scripts/image.sh, tests/kubernetes/*.sh):
# podman, buildah, mmdebstrap and runc from Debian's packages, a podman configuration of our own,
# and the local Debian 12 base image that docker/Dockerfile starts FROM. No registry is used.
# shellcheck shell=bash

SIDELIGHT_ROOT=${SIDELIGHT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SIDELIGHT_CACHE=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}

# Installs what is missing; quiet when everything is there. Returns 1 when apt-get fails.
containers_install() {
  local packages=(podman buildah mmdebstrap runc uidmap iptables containernetworking-plugins
    slirp4netns fuse-overlayfs catatonit) missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "[containers] installing: ${missing[*]}" >&2
  local log
  log=$(mktemp /tmp/sidelight-apt.XXXXXX.log)
  if ! { "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    return 1
  fi
  rm -f "$log"
}

# podman and buildah read CONTAINERS_CONF: runc (crun refuses hybrid cgroup hierarchies), no
# default ulimits (the defaults ask for more open files than a nested sandbox may grant), and
# cgroupfs with file events when systemd is not PID 1.
containers_configure() {
  local conf=$SIDELIGHT_CACHE/containers/containers.conf manager=cgroupfs events=file
  mkdir -p "${conf%/*}"
  if [[ $(ps -p 1 -o comm= 2>/dev/null) == systemd ]]; then manager=systemd events=journald; fi
  cat >"$conf.tmp" <<CONF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "$manager"
events_logger = "$events"
CONF
  mv -f "$conf.tmp" "$conf"
  export CONTAINERS_CONF=$conf
  # buildah reads the same file for its runtime and ulimits.
  export BUILDAH_RUNTIME=runc
}

# containers_setup: install, configure, and check that podman can start a container at all.
containers_setup() {
  containers_install || return 1
  containers_configure
}

# Builds debian:12 from Debian's packages with mmdebstrap (minbase, without documentation, man
# pages and locales, as Debian's -slim images are) and imports it, unless it is there already.
# The root file system is cached as a tarball under $SIDELIGHT_CACHE/images/ and rebuilt once a
# week, so security updates come in.
containers_base_image() {
  # Bump the recipe's number when the mmdebstrap options change: the old tarball is then unused.
  local dir=$SIDELIGHT_CACHE/images tar
  tar=$dir/debian-12-minbase-r2.tar
  mkdir -p "$dir"
  if [[ ! -s $tar ]] || [[ -n $(find "$tar" -mtime +7 2>/dev/null) ]]; then
    echo "[containers] building the Debian 12 base with mmdebstrap into $tar" >&2
    local mirror=http://deb.debian.org/debian
    # merged-/usr through symlinks, as debootstrap does: the usrmerge package would bring perl.
    mmdebstrap --quiet --variant=minbase --format=tar \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --aptopt='Acquire::Languages "none"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      bookworm "$tar.tmp" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" >&2 || return 1
    mv -f "$tar.tmp" "$tar"
    podman rmi -f localhost/debian:12 >/dev/null 2>&1 || true
  fi
  local stamp=$dir/.imported
  if ! podman image exists localhost/debian:12 || [[ $(cat "$stamp" 2>/dev/null) != "$(stat -c %Y "$tar")" ]]; then
    podman rmi -f localhost/debian:12 >/dev/null 2>&1 || true
    podman import --quiet --change 'CMD ["/bin/bash"]' "$tar" localhost/debian:12 >/dev/null ||
      return 1
    stat -c %Y "$tar" >"$stamp"
  fi
}
