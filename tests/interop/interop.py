"""Shared by the interop tests: the real OpenTelemetry Collector and sidelight as subprocesses.

The Collector is built once by scripts/interop/build-collector.sh (cached under
~/.cache/sidelight); SIDELIGHT_OTELCOL may name a binary instead. Its file exporter writes
what it received as OTLP JSON lines, which the tests read back.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TIME_SCALE = int(os.environ.get("SIDELIGHT_TEST_TIME_SCALE", "1"))


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def cached_tool(variable, script):
    """$variable when set, else the last line a scripts/interop/ script prints (it builds or
    installs the tool once and caches it under ~/.cache/sidelight)."""
    path = os.environ.get(variable)
    if path:
        return path
    out = subprocess.run([os.path.join(ROOT, "scripts", "interop", script)],
                         check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip().splitlines()[-1]


def collector_binary():
    return cached_tool("SIDELIGHT_OTELCOL", "build-collector.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # nothing to await but the port opening
    fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout * TIME_SCALE}s")


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Collector:
    """otelcol with an OTLP receiver (gRPC and HTTP) and a file exporter writing OTLP JSON lines."""

    def __init__(self, workdir, tls=None, http_base=""):
        """tls: (cert_file, key_file) to serve OTLP over TLS, both protocols.
        http_base: a path before /v1/traces, /v1/metrics and /v1/logs on the HTTP receiver."""
        self.out = os.path.join(workdir, "collector-out.jsonl")
        self.log = os.path.join(workdir, "collector.log")
        self.config = os.path.join(workdir, "collector.yaml")
        tls_block = ""
        if tls:
            tls_block = f"        tls:\n          cert_file: {tls[0]}\n          key_file: {tls[1]}\n"
        paths = "".join(f"        {signal}_url_path: {http_base}/v1/{signal}\n"
                        for signal in ("traces", "metrics", "logs")) if http_base else ""
        self.tls_block, self.paths = tls_block, paths
        # A port free a moment ago can be taken before the Collector binds it (an outgoing
        # connection's ephemeral port): then it starts again on new ports.
        for attempt in range(5):
            self.port, self.http_port = free_port(), free_port()
            self.write_config()
            if self.start(retry_on_bind_error=attempt < 4):
                break

    def write_config(self):
        tls_block, paths = self.tls_block, self.paths
        with open(self.config, "w") as f:
            f.write(f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{self.port}
{tls_block}      http:
        endpoint: 127.0.0.1:{self.http_port}
{tls_block}{paths}exporters:
  file:
    path: {self.out}
    format: json
    flush_interval: 100ms
    append: true  # a restarted Collector keeps what it wrote before
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
    traces:
      receivers: [otlp]
      exporters: [file]
    logs:
      receivers: [otlp]
      exporters: [file]
""")

    def start(self, retry_on_bind_error=False):
        """Starts the Collector on its ports; False when a port was taken and retrying is allowed."""
        log_start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.proc = subprocess.Popen([collector_binary(), "--config", self.config],
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        if retry_on_bind_error:
            deadline = time.monotonic() + 20 * TIME_SCALE
            while not _listening(self.port) or not _listening(self.http_port):
                if self.proc.poll() is not None:
                    with open(self.log) as f:
                        f.seek(log_start)
                        if "address already in use" in f.read():
                            return False
                    break  # another failure: wait_port below says so
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # nothing to await but the ports opening
        wait_port(self.port, self.proc, "the Collector")
        wait_port(self.http_port, self.proc, "the Collector's HTTP receiver")
        return True

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def http_endpoint(self):
        return f"http://127.0.0.1:{self.http_port}"

    def requests(self):
        try:
            with open(self.out) as f:
                # A line the Collector is still writing has no newline yet: not read until it has.
                return [json.loads(line) for line in f if line.endswith("\n") and line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Sidelight:
    def __init__(self, binary, workdir, yaml):
        self.config = os.path.join(workdir, "sidelight.yaml")
        self.log = os.path.join(workdir, "sidelight.log")
        if "admin:" not in yaml:
            # Never collide with another sidelight on the default 127.0.0.1:13133.
            yaml += f"\nadmin: {{ listen: 'unix:{os.path.join(workdir, 'admin.sock')}' }}\n"
        with open(self.config, "w") as f:
            f.write(yaml)
        self.proc = subprocess.Popen([binary, "run", "--config", self.config, "--log-level", "debug"],
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail("sidelight did not stop within 10 s of SIGTERM")
        return self.proc.returncode


def attrs(kvs):
    """OTLP JSON attributes as a plain dict (int values come as strings in OTLP JSON)."""
    out = {}
    for kv in kvs or []:
        (kind, value), = kv["value"].items() if kv["value"] else (("empty", None),)
        out[kv["key"]] = int(value) if kind == "intValue" else value
    return out


def points(requests):
    """Every number data point, flattened with its resource and metric."""
    for req in requests:
        for rm in req.get("resourceMetrics", []):
            resource = attrs(rm.get("resource", {}).get("attributes"))
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    for kind in ("gauge", "sum"):
                        if kind not in m:
                            continue
                        body = m[kind]
                        for dp in body.get("dataPoints", []):
                            value = int(dp["asInt"]) if "asInt" in dp else dp.get("asDouble", 0)
                            yield {
                                "resource": resource, "name": m["name"], "unit": m.get("unit", ""),
                                "type": kind, "monotonic": body.get("isMonotonic", False),
                                "temporality": body.get("aggregationTemporality"),
                                "value": value, "attributes": attrs(dp.get("attributes")),
                                "time": int(dp.get("timeUnixNano", 0)),
                                "start": int(dp.get("startTimeUnixNano", 0)),
                            }


def wait_point(collector, predicate, what, timeout, logs=()):
    """Polls the Collector's output file (a file gives no event to await) until a point matches."""
    return wait_until(collector, lambda requests: next(
        (p for p in points(requests) if predicate(p)), None), what, timeout, logs)


def workdir():
    return tempfile.mkdtemp(prefix="sidelight-interop.")


class Session:
    """One interop test's world: a scratch directory, the real Collector, and every sidelight and
    process started through it, all stopped at the end. The directory is kept when the test
    failed, for its logs."""

    def __init__(self, binary):
        self.binary = binary
        self.work = workdir()
        self._agents = []
        self._processes = []
        self.collector = None

    def start_collector(self, tls=None, http_base=""):
        self.collector = Collector(self.work, tls=tls, http_base=http_base)
        return self.collector

    def process(self, argv):
        p = subprocess.Popen(argv)
        self._processes.append(p)
        return p

    def sidelight(self, yaml, name=None):
        directory = self.work
        if name:
            directory = os.path.join(self.work, name)
            os.makedirs(directory)
        agent = Sidelight(self.binary, directory, yaml)
        self._agents.append(agent)
        return agent

    def close(self, passed):
        for agent in self._agents:
            agent.stop()
        if self.collector:
            self.collector.stop()
        for p in self._processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        if passed:
            shutil.rmtree(self.work, ignore_errors=True)


@contextlib.contextmanager
def session(binary):
    s = Session(binary)
    passed = False
    try:
        yield s
        passed = True
    finally:
        s.close(passed)


def sdk_python():
    """A Python with the OpenTelemetry SDK from PyPI."""
    return cached_tool("SIDELIGHT_SDK_PYTHON", "sdk-venv.sh")


def spans(requests):
    """Every span, flattened with its resource."""
    for req in requests:
        for rs in req.get("resourceSpans", []):
            resource = attrs(rs.get("resource", {}).get("attributes"))
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    yield {"resource": resource, "name": sp.get("name"),
                           "trace_id": sp.get("traceId"), "span_id": sp.get("spanId"),
                           "parent_span_id": sp.get("parentSpanId", ""),
                           "kind": sp.get("kind"), "status": sp.get("status", {}),
                           "attributes": attrs(sp.get("attributes")),
                           "start": int(sp.get("startTimeUnixNano", 0)),
                           "end": int(sp.get("endTimeUnixNano", 0))}


def log_records(requests):
    """Every log record, flattened with its resource."""
    for req in requests:
        for rl in req.get("resourceLogs", []):
            resource = attrs(rl.get("resource", {}).get("attributes"))
            for sl in rl.get("scopeLogs", []):
                for lr in sl.get("logRecords", []):
                    body = lr.get("body", {})
                    yield {"resource": resource, "body": body.get("stringValue", body),
                           "severity_number": lr.get("severityNumber"),
                           "severity_text": lr.get("severityText", ""),
                           "trace_id": lr.get("traceId", ""), "span_id": lr.get("spanId", ""),
                           "time": int(lr.get("timeUnixNano", 0)),
                           "attributes": attrs(lr.get("attributes"))}


def wait_until(collector, check, what, timeout, logs=()):
    """Polls the Collector's output until check(requests) is truthy; returns its value."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        value = check(collector.requests())
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    tail = ""
    for path in logs:
        with open(path) as f:
            tail += f"\n--- {path} ---\n" + "".join(f.readlines()[-30:])
    fail(f"timed out after {timeout * TIME_SCALE}s waiting for {what}{tail}")


def admin_status(binary, admin_socket):
    out = subprocess.run([binary, "status", "--admin", "unix:" + admin_socket, "--json"],
                         check=True, stdout=subprocess.PIPE, text=True, timeout=10)
    return json.loads(out.stdout)


def check_books(status):
    """The accounting identity of every lane: received = exported + dropped + queued + in flight."""
    for lane in status.get("pipelines", []):
        dropped = sum(lane["dropped"].values())
        total = lane["exported"] + dropped + lane["queued_items"] + lane["in_flight"]
        if lane["received"] != total:
            fail(f"books do not balance for {lane['exporter']}/{lane['signal']}: {lane}")


def sdk_node_modules():
    """node_modules with the OpenTelemetry JavaScript SDK from npm."""
    return cached_tool("SIDELIGHT_SDK_NODE_MODULES", "sdk-node.sh")


def wait_path(path, agent, timeout=10):
    """Until sidelight has created `path` (a socket); fails if it exits first."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while not os.path.exists(path):
        if agent.proc.poll() is not None:
            fail(f"sidelight exited with {agent.proc.returncode} before creating {path}")
        if time.monotonic() >= deadline:
            fail(f"sidelight did not create {path} within {timeout * TIME_SCALE}s")
        time.sleep(0.02)  # a path appearing gives no event to await
