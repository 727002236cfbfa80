# Shared by scripts/*.sh: configure and build into a build directory.
# shellcheck shell=bash

SIDELIGHT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIDELIGHT_CACHE=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}
export SIDELIGHT_ROOT SIDELIGHT_CACHE
export CCACHE_DIR=${CCACHE_DIR:-$SIDELIGHT_CACHE/ccache}
# Paths under the checkout's parent are hashed relative to the build directory, so another
# checkout (a clean clone in CI, a worktree, the image build) hits the same cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$SIDELIGHT_ROOT")}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# sidelight_build BUILD_DIR [TARGET...] -- [CMAKE_ARG...]
sidelight_build() {
  local dir=$1
  shift
  local targets=() cmake_args=()
  while (($#)) && [[ $1 != -- ]]; do targets+=("$1"); shift; done
  if (($#)); then shift; cmake_args=("$@"); fi
  mkdir -p "$dir"
  if [[ ! -f $dir/build.ninja ]] || ((${#cmake_args[@]})); then
    cmake -S "$SIDELIGHT_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "${cmake_args[@]}" >"$dir/configure.log" 2>&1 || {
      cat "$dir/configure.log" >&2
      echo "cmake configure failed" >&2
      return 1
    }
  fi
  # Two cores here: one build at a time, two jobs.
  ninja -C "$dir" -j "${SIDELIGHT_JOBS:-2}" "${targets[@]}"
}
