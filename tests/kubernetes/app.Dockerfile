# The pod test's app image: Debian 12's Python, which runs the OpenTelemetry SDK of the interop
# suite (mounted from the host) and tests/kubernetes/app.py (mounted too).
FROM debian:12
# /run/sidelight 1777: podman, unlike the kubelet (whose emptyDir is 0777), gives a new volume the
# owner and mode of the directory in whichever container's image mounts it first, and starts the
# pod's containers at once: without this, when the app wins, sidelight (65532) could not bind.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -m 1777 /run/sidelight
