#!/usr/bin/env bash
# Build the sidelight container image from docker/Dockerfile with buildah, on a Debian 12 base made
# here with mmdebstrap (no registry is used). Installs podman, buildah, mmdebstrap and runc from
# Debian's packages when they are missing. The last line of stdout is the image's name.
#
#   scripts/image.sh              build localhost/sidelight:latest (and :VERSION)
#   scripts/image.sh --no-cache   rebuild every layer (the ccache mount is kept)
#
# The compiler's cache lives in a buildah cache mount (id sidelight-ccache), outside any layer:
# a rebuild after a source change compiles only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/containers.sh

extra=()
for arg in "$@"; do
  case $arg in
    --no-cache) extra+=(--no-cache) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 1 ;;
  esac
done

containers_setup
containers_base_image
version=$(sed -nE 's/^project\(sidelight VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
image=localhost/sidelight
start=$(date +%s)
# --format docker: the OCI format has no HEALTHCHECK. --layers: unchanged steps are reused.
# --pull-never: debian:12 is the local base, never a registry's.
buildah bud --isolation chroot --layers --format docker --pull-never "${extra[@]}" \
  -f docker/Dockerfile -t "$image:latest" -t "$image:$version" . >&2
echo "[image] built $image:latest in $(($(date +%s) - start))s;" \
  "$(podman image inspect --format '{{.Size}}' "$image:latest" | awk '{printf "%.1f MB", $1/1e6}')" >&2
echo "$image:latest"
