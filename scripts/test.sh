#!/usr/bin/env bash
# Build and run every test: unit, integration (real processes), the systemd unit check and the
# interop suite against the real OpenTelemetry Collector. Ends with ctest's summary line.
#
#   scripts/test.sh                 everything, in build/
#   scripts/test.sh --no-interop    without the Collector (no Go toolchain needed)
#   scripts/test.sh --interop-only  only the interop suite
#   scripts/test.sh --asan          AddressSanitizer + UBSan build, in build-asan/
#   scripts/test.sh --tsan          ThreadSanitizer build, in build-tsan/
#   scripts/test.sh --fuzz [SECS]   build the libFuzzer targets with clang and run each for SECS
#                                   seconds (default 30) over its corpus in fuzz/corpus/
#   scripts/test.sh --package       build the Debian package (scripts/package.sh, lintian),
#                                   install, check and purge it in a throwaway Debian 12 root
#                                   (tests/package/deb_test.sh), then under systemd in a podman
#                                   container (tests/package/systemd_test.sh); root, or sudo
#   extra arguments after -- go to ctest, e.g. -- -R liveness
set -euo pipefail
cd "$(dirname "$0")/.."

mode=default interop=1 only_interop=0 fuzz_seconds=30 ctest_args=()
while (($#)); do
  case $1 in
    --asan) mode=address ;;
    --tsan) mode=thread ;;
    --fuzz)
      mode=fuzz
      if [[ ${2:-} =~ ^[0-9]+$ ]]; then fuzz_seconds=$2; shift; fi
      ;;
    --package) mode=package ;;
    --no-interop) interop=0 ;;
    --interop-only) only_interop=1 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 1 ;;
  esac
  shift
done

scripts/deps.sh
source scripts/lib.sh

if [[ $mode == fuzz ]]; then
  exec scripts/fuzz.sh "$fuzz_seconds"
fi
if [[ $mode == package ]]; then
  deb=$(scripts/package.sh | tail -n1)
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo env "SIDELIGHT_CACHE=$SIDELIGHT_CACHE")
  "${sudo[@]}" tests/package/deb_test.sh "$deb"
  exec "${sudo[@]}" tests/package/systemd_test.sh "$deb"
fi

dir=build cmake_args=()
case $mode in
  # Sanitizer builds link the shared libraries: their reports and suppressions name them.
  address) dir=build-asan; cmake_args=(-DSIDELIGHT_SANITIZE=address -DSIDELIGHT_STATIC_DEPS=OFF) ;;
  thread) dir=build-tsan; cmake_args=(-DSIDELIGHT_SANITIZE=thread -DSIDELIGHT_STATIC_DEPS=OFF) ;;
esac
if [[ $mode != default ]]; then
  # Sanitized code runs several times slower: widen every awaited bound.
  export SIDELIGHT_TEST_TIME_SCALE=${SIDELIGHT_TEST_TIME_SCALE:-4}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$SIDELIGHT_ROOT/tests/tsan.supp}
fi
mkdir -p "$dir"
if [[ ! -f $dir/build.ninja ]] || ((${#cmake_args[@]})); then
  sidelight_build "$dir" -- "${cmake_args[@]}" -DSIDELIGHT_TESTS=ON
else
  sidelight_build "$dir"
fi

label_args=()
if ((only_interop)); then
  label_args=(-L interop)
elif ((!interop)); then
  label_args=(-LE interop)
fi
if ((interop || only_interop)); then
  echo "[test] building the OpenTelemetry Collector for interop (cached in $SIDELIGHT_CACHE)" >&2
  SIDELIGHT_OTELCOL=$(scripts/interop/build-collector.sh | tail -n1)
  echo "[test] preparing the OpenTelemetry SDK clients (cached in $SIDELIGHT_CACHE)" >&2
  SIDELIGHT_SDK_PYTHON=$(scripts/interop/sdk-venv.sh | tail -n1)
  SIDELIGHT_SDK_NODE_MODULES=$(scripts/interop/sdk-node.sh | tail -n1)
  export SIDELIGHT_OTELCOL SIDELIGHT_SDK_PYTHON SIDELIGHT_SDK_NODE_MODULES
fi

cd "$dir"
ctest --output-on-failure "${label_args[@]}" "${ctest_args[@]}"
