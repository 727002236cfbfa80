# The pod test's app image: Debian 12's Python, which runs the OpenTelemetry SDK of the interop
# suite (mounted from the host) and tests/kubernetes/app.py (mounted too).
FROM debian:12
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
