#!/usr/bin/env bash
# Build the Debian package (build-package/package/sidelight_<version>-1_<arch>.deb) and check it
# with lintian; the last line of stdout is the .deb's path.
#
#   scripts/package.sh               build and check
#   scripts/package.sh --no-lintian  build only
#
# The package links Debian's shared libraries (gRPC, protobuf, OpenSSL, ...), not their static
# archives as a development build does: dpkg-shlibdeps then names them as dependencies, and their
# security updates reach sidelight through apt. It is built position-independent with Debian's
# hardening flags (dpkg-buildflags: fortify, stack protector, full RELRO). cmake/package.cmake
# describes the package; packaging/deb/ holds its maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
lintian=1
for arg in "$@"; do
  case $arg in
    --no-lintian) lintian=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 1 ;;
  esac
done
scripts/deps.sh dpkg-dev file lintian
source scripts/lib.sh

dir=build-package
# Debian's hardening flags, less -ffile-prefix-map (it names the checkout, so ccache would not
# share the objects between checkouts; the binary is stripped of debug paths anyway).
cxxflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)"
cxxflags=$(sed -E 's/-ffile-prefix-map=[^ ]*//g; s/ +/ /g' <<<"$cxxflags")
ldflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)"
sidelight_build "$dir" sidelight -- -DCMAKE_INSTALL_PREFIX=/usr -DSIDELIGHT_PACKAGE=ON \
  -DSIDELIGHT_STATIC_DEPS=OFF -DSIDELIGHT_NO_PIE=OFF -DSIDELIGHT_TESTS=OFF -DSIDELIGHT_BENCH=OFF \
  "-DCMAKE_CXX_FLAGS=$cxxflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags" >&2

rm -f "$dir"/package/sidelight_*.deb
(cd "$dir" && cpack -G DEB >cpack.log 2>&1) || {
  cat "$dir/cpack.log" >&2
  echo "[package] cpack failed" >&2
  exit 1
}
debs=("$dir"/package/sidelight_*.deb)
deb=$(realpath "${debs[0]}")
echo "[package] $deb ($(du -h "$deb" | cut -f1)); depends: $(dpkg-deb -f "$deb" Depends)" >&2

if ((lintian)); then
  # Errors and warnings fail; each override in packaging/deb/lintian-overrides says why.
  root_ok=(); [[ $(id -u) -ne 0 ]] || root_ok=(--allow-root)
  if ! lintian "${root_ok[@]}" --fail-on error,warning --display-info "$deb" >&2; then
    echo "[package] lintian found problems in $deb" >&2
    exit 1
  fi
  echo "[package] lintian: clean" >&2
fi
echo "$deb"
