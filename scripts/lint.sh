#!/usr/bin/env bash
# Style and static checks, as CI runs them:
#   - clang-format (the root .clang-format) on every tracked C++ file: fails on any difference;
#   - clang-tidy (the root .clang-tidy, a small set of bug-finding checks) on every file of agent/,
#     against build/compile_commands.json (built first when missing).
# A file clang-tidy passed is remembered under $SIDELIGHT_CACHE/tidy, keyed by its content, every
# header of agent/, .clang-tidy and its compile command, so a run after a small change is quick.
#   scripts/lint.sh            check
#   scripts/lint.sh --fix      rewrite the files clang-format would change, then check
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
fix=0
[[ ${1:-} == --fix ]] && fix=1

scripts/deps.sh

mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h' | grep -v '^proto/')
if ((fix)); then
  clang-format -i "${sources[@]}"
fi
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "[lint] clang-format: the files above differ from .clang-format; scripts/lint.sh --fix" >&2
  exit 1
fi
echo "[lint] clang-format: ${#sources[@]} files as .clang-format has them" >&2

[[ -f build/compile_commands.json ]] || sidelight_build build sidelight
cache=$SIDELIGHT_CACHE/tidy
mkdir -p "$cache"
headers=$(git ls-files 'agent/*.hpp' | xargs cat .clang-tidy | sha256sum | cut -c1-16)
export cache headers
# -Wno-cast-align: the build's -Wcast-align is GCC's, silent where the target allows unaligned
# access; clang's flags netlink's NLMSG_* idiom, whose buffers the kernel aligns.
check_one() {
  local file=$1 key
  key=$( (cat "$file"; echo "$headers"; grep -F "\"file\": \"$PWD/$file\"" -B2 \
    build/compile_commands.json) | sha256sum | cut -c1-32)
  [[ -f $cache/$key ]] && return 0
  if clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option \
    --extra-arg=-Wno-cast-align "$file" 2>/dev/null; then
    touch "$cache/$key"
  else
    echo "[lint] clang-tidy: $file" >&2
    return 1
  fi
}
export -f check_one
mapfile -t units < <(git ls-files 'agent/*.cpp')
if ! printf '%s\n' "${units[@]}" | xargs -P "${SIDELIGHT_JOBS:-2}" -n1 bash -c 'check_one "$0"'; then
  echo "[lint] clang-tidy found the problems above (checks: .clang-tidy)" >&2
  exit 1
fi
echo "[lint] clang-tidy: ${#units[@]} files pass .clang-tidy's checks" >&2
