#!/usr/bin/env python3
"""The sidecar manifest, run: `podman kube play` of the pod docker/kubernetes/sidecar.yaml
describes (made by podvariant: the test's app and a real Collector as a third container), and
what a user of it would look for:

- the app's heartbeat arrives at the Collector with k8s.pod.name, k8s.pod.uid,
  k8s.namespace.name, k8s.node.name, k8s.container.name and the app's container.id;
- the app's process killed: its heartbeat 0 arrives within 1 s of the kill;
- the app container restarted (by the pod's restart policy): sidelight counts the restart;
- the OpenTelemetry Python SDK in the app container, configured only by the manifest's env, sends
  a span through the sidecar's socket, and it arrives with the app's resource filled in;
- /healthz and /readyz?upstream=ignore answer from outside the pod's loopback;
- sidelight runs as 65532 with the capabilities the manifest adds, and its RSS is reported.

    pod_test.py --sidelight-image IMG --app-image IMG --collector-image IMG --python PY [--keep]

`podman kube down` runs at the end, also when the test fails; --keep leaves a pod that passed
running, to look at.
"""
import argparse
import glob
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from interop import TIME_SCALE, Collector, fail, points, spans  # noqa: E402

POD = "sidelight-pod-test"
APP = "example-app"
COLLECTOR_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:4317 }
exporters:
  file:
    path: /work/out.jsonl
    format: json
    flush_interval: 50ms
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    metrics: { receivers: [otlp], exporters: [file] }
    traces: { receivers: [otlp], exporters: [file] }
"""


def podman(*args, check=True, timeout=120):
    out = subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True, text=True,
                         timeout=timeout)
    if check and out.returncode != 0:
        fail(f"podman {' '.join(args)}: exit {out.returncode}\n{out.stdout}{out.stderr}")
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    """What the Collector wrote to the host directory, read as it grows."""

    def __init__(self, path):
        self.out = path

    requests = Collector.requests  # reads self.out: OTLP JSON lines, complete ones only

    def await_(self, find, what, timeout, logs):
        """Polls (a file gives no event to await) until find(requests) is truthy; returns it and
        the monotonic time it was first seen."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            found = find(self.requests())
            if found:
                return found, time.monotonic()
            if time.monotonic() >= deadline:
                fail(f"timed out after {timeout * TIME_SCALE}s waiting for {what}\n{logs()}")
            time.sleep(0.02)


def app_beats(requests, value, instance=None):
    """The app's instance-level heartbeats (the target as a whole has no service.instance.id)."""
    return [p for p in points(requests) if p["name"] == "service.heartbeat"
            and p["resource"].get("service.name") == APP and p["value"] == value
            and "service.instance.id" in p["resource"]
            and (instance is None or p["resource"].get("service.instance.id") == instance)]


def main():
    ap = argparse.ArgumentParser()
    for name in ("sidelight-image", "app-image", "collector-image", "python"):
        ap.add_argument("--" + name, required=True)
    ap.add_argument("--keep", action="store_true", help="leave the pod running after it passed")
    args = ap.parse_args()
    started = time.monotonic()
    site = glob.glob(os.path.join(os.path.dirname(os.path.dirname(args.python)), "lib",
                                  "python3.11", "site-packages"))
    if not site:
        fail(f"{args.python} is no Python 3.11 virtualenv: the app image's Python (Debian 12's "
             "3.11) cannot run its packages")
    work = tempfile.mkdtemp(prefix="sidelight-pod.")
    with open(os.path.join(work, "collector.yaml"), "w") as f:
        f.write(COLLECTOR_CONFIG)
    admin_port = free_port()
    pod_yaml = os.path.join(work, "pod.yaml")
    gen = subprocess.run(
        ["go", "run", "./podvariant", "-dir", os.path.join(ROOT, "docker", "kubernetes"),
         "-out", pod_yaml, "-name", POD, "-sidelight-image", args.sidelight_image,
         "-app-image", args.app_image, "-collector-image", args.collector_image,
         "-app-dir", HERE, "-site-packages", site[0], "-work", work,
         "-admin-host-port", str(admin_port), "-node-name", socket.gethostname()],
        cwd=HERE, capture_output=True, text=True)
    if gen.returncode != 0:
        fail(f"podvariant: {gen.stderr}")
    out = Output(os.path.join(work, "out.jsonl"))
    passed = False
    try:
        podman("kube", "play", pod_yaml, timeout=300)
        run(args, out, admin_port, work)
        passed = True
    finally:
        if passed and args.keep:
            print(f"pod test: the pod runs on. What the Collector received: {out.out}\n"
                  f"  export CONTAINERS_CONF={os.environ.get('CONTAINERS_CONF', '')}\n"
                  f"  podman logs {POD}-sidelight; curl http://127.0.0.1:{admin_port}/metrics\n"
                  f"  send a span from the app: kill -USR1 $(podman inspect --format "
                  f"'{{{{.State.Pid}}}}' {POD}-app)\n"
                  f"  stop it: podman kube down {pod_yaml}")
        else:
            podman("kube", "down", pod_yaml, check=False)
            # podman keeps a volume for each ConfigMap a pod mounted; nothing else needs it.
            podman("volume", "rm", "-f", "sidelight-sidecar", check=False)
        if passed and not args.keep:
            subprocess.run(["rm", "-rf", work])
        elif not passed:
            print(f"pod test: kept {work} (pod.yaml, out.jsonl)", file=sys.stderr)
    print(f"pod test: passed in {time.monotonic() - started:.1f}s")


def container_logs():
    text = ""
    for c in ("sidelight", "app", "collector"):
        # A container's stderr comes back on podman's stderr.
        logs = subprocess.run(["podman", "logs", "--tail", "40", f"{POD}-{c}"], timeout=30,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        text += f"--- {c} ---\n{logs}\n"
    return text


def run(args, out, admin_port, work):
    app_id = podman("inspect", "--format", "{{.Id}}", f"{POD}-app")
    pod_id = podman("pod", "inspect", "--format", "{{.Id}}", POD)

    # 1. The app's heartbeat, with the pod's attributes and the app's container.
    beats, _ = out.await_(lambda r: app_beats(r, 1), "the app's heartbeat (1)", 60, container_logs)
    first = beats[0]["resource"]
    expect = {"k8s.pod.name": POD, "k8s.node.name": socket.gethostname(),
              "k8s.container.name": "app", "container.id": app_id, "service.version": "1.0"}
    for key, value in expect.items():
        if first.get(key) != value:
            fail(f"heartbeat resource {key}: expected {value!r}, got {first.get(key)!r} in {first}")
    for key in ("k8s.pod.uid", "k8s.namespace.name", "process.pid", "service.instance.id"):
        if not first.get(key):
            fail(f"heartbeat resource lacks {key}: {first}")
    print(f"pod test: heartbeat with {', '.join(f'{k}={first[k]}' for k in sorted(first) if k.startswith(('k8s.', 'container.')))}")
    # sidelight's own heartbeat carries the pod's attributes too.
    own = [p for p in points(out.requests()) if p["resource"].get("service.name") == "sidelight"
           and "service.instance.id" in p["resource"]]
    if not own or own[0]["resource"].get("k8s.pod.name") != POD:
        fail(f"sidelight's own resource lacks k8s.pod.name: {own[:1]}")

    sidelight_pid = int(podman("inspect", "--format", "{{.State.Pid}}", f"{POD}-sidelight"))
    report_process(sidelight_pid)

    # 2. The app's process killed: heartbeat 0 within 1 s.
    app_pid = int(podman("inspect", "--format", "{{.State.Pid}}", f"{POD}-app"))
    instance = first["service.instance.id"]
    killed = time.monotonic()
    os.kill(app_pid, signal.SIGKILL)
    _, seen = out.await_(lambda r: app_beats(r, 0, instance), "the app's heartbeat 0", 10,
                         container_logs)
    elapsed = seen - killed
    print(f"pod test: kill -> heartbeat 0 at the Collector in {elapsed * 1000:.0f} ms")
    if elapsed > 1.0:
        fail(f"heartbeat 0 arrived {elapsed:.2f}s after the kill; at most 1 s is allowed")

    # 3. The container restarted by the pod's policy; sidelight counts the restart.
    def restarted(requests):
        again = [p for p in app_beats(requests, 1)
                 if p["resource"].get("service.instance.id") != instance]
        counted = [p for p in points(requests) if p["name"] == "service.restarts"
                   and p["resource"].get("service.name") == APP and p["value"] >= 1]
        return (again, counted) if again and counted else None

    (again, counted), _ = out.await_(restarted, "the restarted app's heartbeat and its restart",
                                     60, container_logs)
    restarts = podman("inspect", "--format", "{{.RestartCount}}", f"{POD}-app")
    second = again[0]["resource"]
    if second.get("container.id") != app_id:
        fail(f"the restarted app's container.id {second.get('container.id')} is not {app_id}")
    print(f"pod test: app restarted (podman RestartCount={restarts}), "
          f"service.restarts={counted[-1]['value']}")

    # 4. A span from the SDK in the app container, through the sidecar's socket.
    new_pid = int(podman("inspect", "--format", "{{.State.Pid}}", f"{POD}-app"))
    os.kill(new_pid, signal.SIGUSR1)
    found, _ = out.await_(lambda r: [s for s in spans(r) if s["name"] == "pod-test-span"],
                          "the app's span", 30, container_logs)
    resource = found[0]["resource"]
    # What the SDK left out, sidelight filled in from the app's instance and the pod.
    for key in ("service.version", "process.pid", "process.executable.name", "container.id",
                "k8s.container.name", "k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name",
                "k8s.node.name"):
        if resource.get(key) != second.get(key):
            fail(f"span resource {key}: expected the app's {second.get(key)!r}, "
                 f"got {resource.get(key)!r} in {resource}")
    # What the SDK set itself is never replaced (its service.name and, since SDK 1.3x, its own
    # random service.instance.id).
    if resource.get("telemetry.sdk.language") != "python" or not resource.get("service.name"):
        fail(f"the span's resource lost the SDK's own attributes: {resource}")
    print(f"pod test: span arrived with the app's resource (process.pid={resource['process.pid']},"
          f" container.id={resource['container.id'][:12]}, service.version="
          f"{resource['service.version']}; the SDK's own service.name={resource['service.name']})")

    # 5. The admin endpoints from outside the pod's loopback: the host's loopback port is
    # forwarded to the pod's own address, where sidelight must listen.
    for path, want in (("/healthz", "ok\n"), ("/readyz?upstream=ignore", "ready\n")):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}{path}", timeout=5) as r:
            body = r.read().decode()
            if r.status != 200 or not body.startswith(want):
                fail(f"{path}: {r.status} {body!r}")
    print(f"pod test: /healthz and /readyz?upstream=ignore answered through the pod's address"
          f" (pod {pod_id[:12]})")


def report_process(pid):
    """sidelight's user, effective capabilities and RSS, as the kernel reports them."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    if status["Uid"][0] != "65532":
        fail(f"sidelight runs as uid {status['Uid'][0]}, not 65532")
    eff = int(status["CapEff"][0], 16)
    names = {19: "SYS_PTRACE", 2: "DAC_READ_SEARCH", 12: "NET_ADMIN"}
    held = [n for bit, n in names.items() if eff & (1 << bit)]
    if "SYS_PTRACE" not in held or "DAC_READ_SEARCH" not in held:
        fail(f"sidelight's effective capabilities {held} lack what the manifest adds")
    print(f"pod test: sidelight uid 65532, effective capabilities {' '.join(held)}, "
          f"RSS {int(status['VmRSS'][0]) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
