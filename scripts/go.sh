#!/usr/bin/env bash
# Prints (as the last line of stdout) the path of a Go toolchain of version 1.26 or newer: the one
# the interop suite builds the OpenTelemetry Collector with. In this order:
#   1. `go` on PATH, when it is 1.26 or newer;
#   2. the toolchain an earlier run kept in $SIDELIGHT_CACHE/go/go1.26.8 (~/.cache/sidelight);
#   3. otherwise Debian's golang-go (1.19 on Debian 12, installed with apt-get) downloads the
#      official toolchain as the module golang.org/toolchain@v0.0.1-go1.26.8.linux-<arch> from
#      the Go module proxy (`go mod download`, which checks it against the checksum database),
#      and it is kept in $SIDELIGHT_CACHE/go/go1.26.8.
# Nothing comes from anywhere but Debian and the module proxy. Progress goes to stderr.
#
#   GO=$(scripts/go.sh | tail -n1)
set -euo pipefail

version=1.26.8
want_minor=26
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/go
target=$cache/go$version

log() { printf '[go] %s\n' "$*" >&2; }

# go_ok GO: true when GO runs and is 1.26 or newer (asked with GOTOOLCHAIN=local, so that a
# newer go does not switch to yet another toolchain while answering).
go_ok() {
  local v
  v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
  [[ $v =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] >= want_minor))
}

if on_path=$(command -v go 2>/dev/null) && go_ok "$on_path"; then
  echo "$on_path"
  exit 0
fi
if go_ok "$target/bin/go"; then
  echo "$target/bin/go"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if go_ok "$target/bin/go"; then   # another run fetched it meanwhile
  echo "$target/bin/go"
  exit 0
fi

"$root/scripts/deps.sh" golang-go
boot=/usr/lib/go-1.19/bin/go
[[ -x $boot ]] || boot=$(command -v go)
arch=$(GOTOOLCHAIN=local "$boot" env GOARCH)
module=golang.org/toolchain@v0.0.1-go$version.linux-$arch
log "fetching $module with $("$boot" version | cut -d' ' -f3) from the module proxy"

work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# A module cache of its own, thrown away afterwards: only the toolchain is kept.
export GOTOOLCHAIN=local GOFLAGS=-modcacherw GOPATH=$work/gopath GOMODCACHE=$work/mod \
  GOCACHE=$work/build GOENV=off
(cd "$work" && "$boot" mod download -json "$module") >"$work/download.json" || {
  cat "$work/download.json" >&2
  log "go mod download $module failed"
  exit 1
}
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$work/download.json")
[[ -n $dir && -d $dir/bin ]] || { cat "$work/download.json" >&2; exit 1; }
# A module's files carry no modes: make the programs executable again, as `go` does when it
# switches toolchains itself.
chmod -R u+w "$dir"
chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
rm -rf "$target"
mv "$dir" "$target"
go_ok "$target/bin/go" || { log "$target/bin/go does not run as Go >= 1.$want_minor"; exit 1; }
log "kept $("$target/bin/go" version | cut -d' ' -f3) in $target"
echo "$target/bin/go"
