#!/usr/bin/env bash
# Install the Debian 12 packages sidelight needs to build, test and fuzz.
# Idempotent: only missing packages are installed. Uses sudo when not root.
#
#   scripts/deps.sh                 # build + test dependencies
#   scripts/deps.sh --build-only    # what building the agent alone needs (the image's build stage)
#   scripts/deps.sh PACKAGE...      # and these too (e.g. scripts/package.sh's dpkg-dev lintian)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev nlohmann-json3-dev libyaml-cpp-dev
  libssl-dev zlib1g-dev libsimdjson-dev libre2-dev
)
build_only=0
if [[ ${1:-} == --build-only ]]; then
  build_only=1
  shift
fi
if ((!build_only)); then
  packages+=(
    git catch2
    clang libclang-rt-14-dev clang-format clang-tidy
    python3 python3-venv socat procps systemd curl ca-certificates openssl
  )
fi
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "[deps] installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/sidelight-apt.XXXXXX.log)
if ! { "${sudo[@]}" apt-get update -qq && \
       "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "[deps] apt-get failed (log: $log)" >&2
  exit 1
fi
rm -f "$log"
