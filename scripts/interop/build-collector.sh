#!/usr/bin/env bash
# Build the real OpenTelemetry Collector ("otelcol-sidelight") for interop
# tests with the official builder (ocb), cached outside the source tree.
#
#   OTELCOL=$(scripts/interop/build-collector.sh | tail -n1)
#
# The last line of stdout is the absolute path of the binary; all progress
# output goes to stderr.  Idempotent: when the binary for the current
# manifest is already in the cache this returns in well under a second.
#
# Go: scripts/go.sh provides Go >= 1.26 (from PATH, the cache, or fetched through Debian's
# golang-go and the Go module proxy).
#
# Manifest: tests/interop/otelcol/builder-config.yaml (its "# ocb-version:"
# line selects the builder version; every component is pinned there).
#
# Cache layout (SIDELIGHT_CACHE defaults to $HOME/.cache/sidelight):
#   $SIDELIGHT_CACHE/otelcol/<version>-<sha256(manifest)[:12]>/otelcol-sidelight
#   $SIDELIGHT_CACHE/otelcol/<version>-<sha256(manifest)[:12]>/bin/builder
#   $SIDELIGHT_CACHE/otelcol/go/{mod,build}   GOMODCACHE / GOCACHE (shared)
#
# Options:
#   --rebuild   ignore an existing cached binary and build again
#   -h|--help   show this help
set -euo pipefail

DIST_NAME=otelcol-sidelight
BUILDER_PKG=go.opentelemetry.io/collector/cmd/builder

log() { printf '[build-collector] %s\n' "$*" >&2; }
die() { printf '[build-collector] ERROR: %s\n' "$*" >&2; exit 1; }

rebuild=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd "$script_dir/../.." && pwd -P)
manifest="$repo_root/tests/interop/otelcol/builder-config.yaml"
[[ -f "$manifest" ]] || die "manifest not found: $manifest"

version=$(sed -n 's/^#[[:space:]]*ocb-version:[[:space:]]*\(v[0-9][0-9.]*\)[[:space:]]*$/\1/p' "$manifest" | head -n1)
[[ -n "$version" ]] || die "no '# ocb-version: vX.Y.Z' line in $manifest"

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
hash=$(sha256sum "$manifest" | cut -c1-12)

cache_root=${SIDELIGHT_CACHE:-${HOME:?HOME is not set; set SIDELIGHT_CACHE}/.cache/sidelight}
[[ "$cache_root" == /* ]] || cache_root="$PWD/$cache_root"
otelcol_root="$cache_root/otelcol"
dir="$otelcol_root/$version-$hash"
bin="$dir/$DIST_NAME"

binary_ok() { [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; }

# ---- fast path -----------------------------------------------------------
if (( ! rebuild )) && binary_ok; then
  log "cached: $("$bin" --version 2>&1 | head -n1)"
  printf '%s\n' "$bin"
  exit 0
fi

# ---- slow path: set-up checks ------------------------------------------
# Sanity: every v0.x component must carry the ocb version (one release).
mismatch=$(grep -E '^[[:space:]]*(-[[:space:]]*)?gomod:[[:space:]]' "$manifest" \
  | awk -v v="$version" '$NF ~ /^v0\./ && $NF != v { print $NF " " $(NF-1) }' || true)
[[ -z "$mismatch" ]] || die "manifest modules not at $version:"$'\n'"$mismatch"

# The builder $version needs Go >= 1.26: scripts/go.sh finds one, or fetches the official
# toolchain through Debian's older Go and the module proxy, and prints its path.
go_bin=$("$repo_root/scripts/go.sh" | tail -n1) || die "no Go >= 1.26 (scripts/go.sh failed)"
export PATH="$(dirname "$go_bin"):$PATH"
export GOTOOLCHAIN=local   # the Go just found, never another one downloaded behind our back
go_version=$(go env GOVERSION)

mkdir -p "$dir"

# Serialise concurrent invocations for the same version/manifest.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  if ! flock -n 9; then
    log "another build holds $dir/.lock; waiting..."
    flock 9
  fi
  if (( ! rebuild )) && binary_ok; then   # someone else just built it
    log "built concurrently by another process"
    printf '%s\n' "$bin"
    exit 0
  fi
fi

# Keep Go's caches out of the repo (and out of ~/go): shared by all versions.
export GOMODCACHE=${SIDELIGHT_GOMODCACHE:-$otelcol_root/go/mod}
export GOCACHE=${SIDELIGHT_GOCACHE:-$otelcol_root/go/build}
# -modcacherw: keep the module cache deletable with plain `rm -rf`.
# Replace (not extend) any GOFLAGS from the environment, e.g. -mod=vendor.
export GOFLAGS=-modcacherw
export CGO_ENABLED=0
mkdir -p "$GOMODCACHE" "$GOCACHE"

work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp"
start=$(date +%s)

log "building $DIST_NAME with ocb $version ($go_version) into $dir"
log "GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"

# ---- 1. the builder ------------------------------------------------------
builder="$dir/bin/builder"
if [[ -x "$builder" ]] && "$builder" version 2>/dev/null | grep -qF "$version"; then
  log "builder already installed: $builder"
else
  log "installing $BUILDER_PKG@$version"
  GOBIN="$dir/bin" TMPDIR="$work/tmp" go install "$BUILDER_PKG@$version" >&2
fi
[[ -x "$builder" ]] || die "builder not found at $builder after go install"

# ---- 2. generate + compile ----------------------------------------------
src="$work/src"
sed "s|^\([[:space:]]*output_path:\).*\$|\1 $src|" "$manifest" >"$work/builder-config.yaml"
grep -qF "output_path: $src" "$work/builder-config.yaml" \
  || die "could not set dist.output_path in a copy of $manifest (needs an 'output_path:' line under dist:)"

log "running ocb to generate the distribution's sources"
# ocb generates main.go, components.go and go.mod. Its own `go mod tidy` also
# resolves the *test* imports of every component, and the Go proxy here does
# not serve some of those (e.g. fileexporter's tests need
# otlpencodingextension), so tidy tolerantly (-e) and compile ourselves,
# exactly as ocb would (go build -trimpath -ldflags=-s -w).
( cd "$work" && TMPDIR="$work/tmp" "$builder" --config "$work/builder-config.yaml" \
    --skip-compilation --skip-get-modules ) >&2 || die "ocb failed (see output above)"
# --skip-get-modules also skips writing go.mod: create it and add every
# component at the version the manifest pins.
log "resolving modules"
mods=$(sed -nE 's/^[[:space:]]*(-[[:space:]]*)?gomod:[[:space:]]*([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2@\3/p' "$manifest")
(
  cd "$src"
  export TMPDIR="$work/tmp"
  go mod init "$(sed -nE 's/^[[:space:]]*module:[[:space:]]*([^[:space:]]+).*/\1/p' "$manifest")"
  # shellcheck disable=SC2086
  go get $mods
  go mod tidy -e
) >&2 || die "module resolution failed (see output above)"
log "compiling (a cold build takes several minutes on 2 cores)"
( cd "$src" && TMPDIR="$work/tmp" go build -trimpath -ldflags='-s -w' -o "$DIST_NAME" . ) >&2 \
  || die "go build failed (see output above)"

built="$src/$DIST_NAME"
[[ -x "$built" ]] || die "ocb finished but $built does not exist"
"$built" --version >&2 || die "built binary does not run: $built"

# ---- 3. install atomically ------------------------------------------------
cp "$manifest" "$dir/builder-config.yaml"
{
  echo "version=$version"
  echo "manifest_sha256_12=$hash"
  echo "go=$go_version"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$(( $(date +%s) - start ))"
} >"$dir/build-info.txt"
mv -f "$built" "$bin"   # same filesystem (work is inside dir): rename(2), atomic

log "done in $(( $(date +%s) - start ))s: $bin ($(du -h "$bin" | cut -f1))"
printf '%s\n' "$bin"
