#!/usr/bin/env bash
# Build the libFuzzer targets with clang (in build-fuzz/) and run each for SECS seconds over its
# corpus in fuzz/corpus/<target>/. New inputs found go to build-fuzz/corpus-new/; a crash stops
# the run with the reproducer's path. Usually called as scripts/test.sh --fuzz [SECS].
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
scripts/deps.sh
source scripts/lib.sh
mkdir -p build-fuzz
if [[ ! -f build-fuzz/build.ninja ]]; then
  CXX=clang++ sidelight_build build-fuzz fuzz_config -- -DSIDELIGHT_FUZZ=ON -DSIDELIGHT_TESTS=OFF \
    -DSIDELIGHT_BENCH=OFF -DSIDELIGHT_SANITIZE=fuzzer -DSIDELIGHT_STATIC_DEPS=OFF -DCMAKE_CXX_COMPILER=clang++
fi
targets=(config proc_stat units env_expand ndjson ndjson_stream otlp_wire otlp_json otlp_http
  http_request http_answer spool cgroup proc_events)
sidelight_build build-fuzz "${targets[@]/#/fuzz_}"
rm -f build-fuzz/crash-* build-fuzz/timeout-* build-fuzz/oom-*
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus-new/$t"
  echo "[fuzz] $t for ${seconds}s"
  (cd build-fuzz && "./bin/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 "corpus-new/$t" "../fuzz/corpus/$t" 2>&1 |
    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Test unit written' || true)
  found=$(compgen -G 'build-fuzz/crash-*'; compgen -G 'build-fuzz/timeout-*'; compgen -G 'build-fuzz/oom-*') || true
  if [[ -n $found ]]; then
    echo "[fuzz] $t found a problem; reproduce with build-fuzz/bin/fuzz_$t FILE:" $found >&2
    exit 1
  fi
done
echo "[fuzz] all targets ran ${seconds}s each without a crash, hang or OOM"
