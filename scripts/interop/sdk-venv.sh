#!/usr/bin/env bash
# Prints the path of a Python interpreter with the OpenTelemetry Python SDK and its OTLP exporters
# (gRPC and HTTP), installed from PyPI into a virtualenv cached under ~/.cache/sidelight. The
# versions are pinned in tests/interop/sdk/requirements.txt; a change there makes a new virtualenv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
req=$root/tests/interop/sdk/requirements.txt
hash=$(sha256sum "$req" | cut -c1-12)
venv=${SIDELIGHT_CACHE:-$HOME/.cache/sidelight}/pyvenv-$hash
if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -qq python3-venv >&2
fi
rm -rf "$venv"
echo "[sdk] creating $venv from PyPI" >&2
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
echo "$venv/bin/python"
