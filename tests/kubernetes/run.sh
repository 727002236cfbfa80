#!/usr/bin/env bash
# The container image and the Kubernetes manifests, proven: run by .ci/run.
#
#  1. every manifest in docker/kubernetes/ decodes strictly into the Kubernetes API types, and its
#     sidelight configuration passes `sidelight check-config` (go test, offline);
#  2. the image builds from docker/Dockerfile with buildah on a local Debian 12 base, is small
#     enough, and `sidelight --version` runs in it as the non-root user;
#  3. the sidecar manifest runs under `podman kube play` with the real Collector (pod_test.py).
#
#   tests/kubernetes/run.sh          all three
#   tests/kubernetes/run.sh --keep   and leave the pod of step 3 running, to look at
#
# Installs podman, buildah, mmdebstrap and runc when missing. When podman cannot start a container
# on this machine, steps 2 and 3 are skipped with a loud reason; step 1 still runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh
source scripts/containers.sh
start=$(date +%s)
passed=0

# Go >= 1.26: scripts/go.sh provides one on a fresh Debian 12, else `go` from PATH.
if [[ -x scripts/go.sh ]]; then
  go_bin=$(scripts/go.sh | tail -n1)
  PATH=$(dirname "$go_bin"):$PATH
fi
command -v go >/dev/null || { echo "[kubernetes] no go on PATH and no scripts/go.sh" >&2; exit 1; }
export GOMODCACHE=${GOMODCACHE:-$SIDELIGHT_CACHE/go/mod} GOCACHE=${GOCACHE:-$SIDELIGHT_CACHE/go/build}
export GOFLAGS=-modcacherw GOTOOLCHAIN=${GOTOOLCHAIN:-local}

echo "[kubernetes] 1. manifests, strictly against the API types" >&2
sidelight_build build sidelight >/dev/null
(cd tests/kubernetes && SIDELIGHT_BINARY=$root/build/bin/sidelight go test -count=1 -v ./... 2>&1 |
  grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go' )
passed=$((passed + 1))

containers_setup
containers_base_image
if ! why=$(podman run --rm --network none localhost/debian:12 true 2>&1); then
  echo "" >&2
  echo "[kubernetes] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "[kubernetes] SKIPPED the image and pod tests: podman cannot start a container here:" >&2
  echo "[kubernetes]   $why" >&2
  echo "[kubernetes] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "kubernetes: $passed passed, 0 failed, 2 skipped"
  exit 0
fi

echo "[kubernetes] 2. the image" >&2
image=$(scripts/image.sh 2> >(grep -E '^\[image\]|ccache|[Hh]its|[Mm]isses|Error|error' >&2) | tail -n1)
size=$(podman image inspect --format '{{.Size}}' "$image")
max=$((120 * 1000 * 1000))
if ((size > max)); then
  echo "[kubernetes] FAIL: $image is $((size / 1000000)) MB, over $((max / 1000000)) MB" >&2
  exit 1
fi
version=$(podman run --rm --network none --no-healthcheck "$image" --version)
uid=$(podman run --rm --network none --no-healthcheck --entrypoint /usr/bin/id "$image" -u)
if [[ $version != "sidelight "* || $uid != 65532 ]]; then
  echo "[kubernetes] FAIL: --version printed '$version' as uid '$uid' (expected uid 65532)" >&2
  exit 1
fi
# The image's HEALTHCHECK (`sidelight health`, a GET of /healthz) passes once the agent runs.
podman rm -f sidelight-image-test >/dev/null 2>&1 || true
# Without systemd, podman says it cannot start a timer for the HEALTHCHECK: that is only noise.
podman run -d --name sidelight-image-test --network none "$image" >/dev/null 2>&1
healthy=0
for _ in $(seq 50); do
  if podman healthcheck run sidelight-image-test >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.2 # a HEALTHCHECK gives no event to await
done
podman rm -f sidelight-image-test >/dev/null 2>&1
if ((!healthy)); then
  echo "[kubernetes] FAIL: the image's HEALTHCHECK did not pass within 10 s of the start" >&2
  exit 1
fi
# The binary's file capabilities survived into the image, and work as under Kubernetes: the
# capabilities a pod adds reach a non-root process only through its bounding set (podman would
# also set them as ambient ones, which Kubernetes does not), and sidelight makes them effective.
caps=$(podman run --rm --network none --no-healthcheck --user 0 --cap-drop all \
  --cap-add SYS_PTRACE,DAC_READ_SEARCH,SETUID,SETGID,SETPCAP --entrypoint /usr/bin/setpriv "$image" \
  --reuid 65532 --regid 65532 --clear-groups --inh-caps=-all \
  --bounding-set=-all,+sys_ptrace,+dac_read_search \
  /usr/bin/timeout 2 /usr/bin/sidelight run --config /etc/sidelight/sidelight.yaml 2>&1 |
  sed -n 's/.*; capabilities: //p') || true # timeout's 124 ends the run
if [[ $caps != "SYS_PTRACE DAC_READ_SEARCH" ]]; then
  echo "[kubernetes] FAIL: as uid 65532 with SYS_PTRACE and DAC_READ_SEARCH in its bounding set," \
    "sidelight held '$caps'" >&2
  exit 1
fi
echo "[kubernetes] $image: $((size / 1000000)) MB; '$version' as uid $uid; HEALTHCHECK passes;" \
  "file capabilities raised: $caps" >&2
passed=$((passed + 1))

echo "[kubernetes] 3. the sidecar manifest under podman kube play" >&2
otelcol=$(scripts/interop/build-collector.sh | tail -n1)
python=$(scripts/interop/sdk-venv.sh | tail -n1)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$otelcol" "$ctx/otelcol"
buildah bud --quiet --isolation chroot --layers --pull-never -f tests/kubernetes/collector.Dockerfile \
  -t localhost/sidelight-test-collector:latest "$ctx" >/dev/null
buildah bud --quiet --isolation chroot --layers --pull-never -f tests/kubernetes/app.Dockerfile \
  -t localhost/sidelight-test-app:latest "$ctx" >/dev/null
python3 tests/kubernetes/pod_test.py --sidelight-image "$image" \
  --app-image localhost/sidelight-test-app:latest \
  --collector-image localhost/sidelight-test-collector:latest --python "$python" "$@"
passed=$((passed + 1))
echo "[kubernetes] done in $(($(date +%s) - start))s" >&2
echo "kubernetes: $passed passed, 0 failed"
