#!/usr/bin/env bash
# The interop suite alone: sidelight against the real OpenTelemetry Collector, built with its
# official builder (ocb) and cached under ~/.cache/sidelight.
set -euo pipefail
exec "$(dirname "$0")/test.sh" --interop-only "$@"
