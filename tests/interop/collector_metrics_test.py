#!/usr/bin/env python3
"""Interop: the real OpenTelemetry Collector receives sidelight's heartbeats over OTLP/gRPC.

Checks metric names, types, units, values and resource attributes exactly as the Collector
decoded them (its file exporter's OTLP JSON), including a kill seen as heartbeat 0 with its
sidelight.instance.exit event, an exit status 3 in its event, a crash loop, and a target whose
HTTP probe hangs seen as degraded, then running again.

    collector_metrics_test.py path/to/sidelight
"""
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from interop import attrs, fail, session, wait_point, wait_until  # noqa: E402


class HealthServer:
    """/healthz on a loopback port: answers 200, or, while hung, accepts and never answers."""

    def __init__(self):
        self.answering = threading.Event()
        self.answering.set()
        self.released = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                while not server.answering.is_set() and not server.released.is_set():
                    server.released.wait(0.05)
                if server.released.is_set():
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def check_probe(collector, health, target_of, logs):
    """The target-level heartbeat says degraded (timeout) while /healthz hangs, running after."""
    def status_of(status, reason=None):
        def match(p):
            a = p["attributes"]
            return (target_of("emp-web", "service.heartbeat")(p) and
                    a.get("service.status") == status and
                    (reason is None or a.get("service.degraded.reason") == reason))
        return match

    wait_point(collector, status_of("running"), "emp-web target-level running", 15, logs)
    probe = wait_point(collector, target_of("emp-web", "service.probe.duration"),
                       "emp-web target-level service.probe.duration", 5, logs)
    if probe["type"] != "gauge" or probe["unit"] != "s" or not 0 <= probe["value"] < 5:
        fail(f"service.probe.duration: expected a gauge in 's' of 0..5, got {probe}")
    health.answering.clear()
    hung = wait_point(collector, status_of("degraded", "timeout"),
                      "emp-web degraded (timeout) while /healthz hangs", 5, logs)
    if hung["value"] != 1:
        fail(f"a degraded target is alive: expected heartbeat 1, got {hung}")
    failures = wait_point(collector, lambda p: target_of("emp-web", "service.probe.failures")(p) and
                          p["value"] >= 1, "emp-web service.probe.failures >= 1", 5, logs)
    if failures["type"] != "sum" or not failures["monotonic"] or failures["unit"] != "{failure}":
        fail(f"service.probe.failures: expected a monotonic sum in '{{failure}}', got {failures}")
    health.answering.set()
    wait_point(collector, lambda p: status_of("running")(p) and p["time"] > hung["time"],
               "emp-web running again once /healthz answers", 5, logs)


def exit_events(requests):
    """Every sidelight.instance.exit log record: its resource and attributes."""
    for req in requests:
        for rl in req.get("resourceLogs", []):
            resource = attrs(rl.get("resource", {}).get("attributes"))
            for sl in rl.get("scopeLogs", []):
                for rec in sl.get("logRecords", []):
                    a = attrs(rec.get("attributes"))
                    # eventName (OTLP 1.5) where the Collector's pdata knows it; the attributes
                    # say it as well.
                    if (rec.get("eventName") == "sidelight.instance.exit" or
                            "service.down.reason" in a):
                        yield {"resource": resource, "attributes": a,
                               "severity": rec.get("severityText", "")}


def wait_exit_event(collector, service, what, logs):
    return wait_until(collector, lambda requests: next(
        (e for e in exit_events(requests) if e["resource"].get("service.name") == service), None),
        what, 5, logs)


def main():
    with session(sys.argv[1]) as s:
        collector = s.start_collector()
        sleeper = s.process(["sleep", "600"])
        web = s.process(["sleep", "600"])
        # Ends with status 3 when its stdin closes.
        ends = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"],
                                stdin=subprocess.PIPE)
        s._processes.append(ends)
        loop_bin = os.path.join(s.work, "sl-loop")
        shutil.copy("/bin/sleep", loop_bin)
        health = HealthServer()
        agent = s.sidelight(f"""
resource:
  deployment.environment.name: interop
  service.namespace: emp
heartbeat: {{ interval: 60s }}
targets:
  - name: emp-api
    version: 1.4.2
    pid: {sleeper.pid}
  - name: emp-ends
    pid: {ends.pid}
  - name: emp-loop
    process: {{ comm: sl-loop }}
    crash_loop: {{ restarts: 3, window: 10m }}
  - name: emp-web
    pid: {web.pid}
    http: {{ url: "http://127.0.0.1:{health.port}/healthz", timeout: 300ms, interval: 200ms }}
exporters:
  otlp:
    endpoint: {collector.endpoint}
    compression: gzip
""")
        logs = (agent.log, collector.log)

        # Instance-level series carry service.instance.id; the target as a whole has none.
        def of(name, metric):
            return lambda p: (p["resource"].get("service.name") == name and p["name"] == metric
                              and "service.instance.id" in p["resource"])

        def target_of(name, metric):
            return lambda p: (p["resource"].get("service.name") == name and p["name"] == metric
                              and "service.instance.id" not in p["resource"])

        # The target as a whole: its heartbeat and its live instances.
        whole = wait_point(collector, lambda p: target_of("emp-api", "service.heartbeat")(p) and
                           p["value"] == 1, "emp-api target-level service.heartbeat=1", 15, logs)
        if whole["attributes"].get("service.status") != "running":
            fail(f"target-level service.heartbeat: expected running, got {whole['attributes']}")
        wait_point(collector, lambda p: target_of("emp-api", "service.instances")(p) and
                   p["value"] == 1, "emp-api service.instances=1", 5, logs)

        beat = wait_point(collector, lambda p: of("emp-api", "service.heartbeat")(p) and p["value"] == 1,
                          "emp-api service.heartbeat=1", 15, logs)
        r = beat["resource"]
        expect = {
            "service.name": "emp-api", "service.version": "1.4.2", "service.namespace": "emp",
            "deployment.environment.name": "interop", "process.pid": sleeper.pid,
            "process.executable.name": "sleep",
        }
        for key, value in expect.items():
            if r.get(key) != value:
                fail(f"resource attribute {key}: expected {value!r}, got {r.get(key)!r} in {r}")
        for key in ("service.instance.id", "host.name"):
            if not r.get(key):
                fail(f"resource attribute {key} missing in {r}")
        if beat["type"] != "gauge" or beat["unit"] != "1":
            fail(f"service.heartbeat: expected a gauge with unit '1', got {beat}")
        if beat["attributes"].get("service.status") != "running":
            fail(f"service.heartbeat: expected service.status=running, got {beat['attributes']}")

        checks = {
            "service.uptime_seconds": ("gauge", "s"),
            "service.restarts": ("sum", "{restart}"),
            "process.cpu.time": ("sum", "s"),
            "process.memory.usage": ("sum", "By"),
            "process.memory.virtual": ("sum", "By"),
            "process.thread.count": ("sum", "{thread}"),
            "process.unix.file_descriptor.count": ("sum", "{file_descriptor}"),
        }
        for metric, (kind, unit) in checks.items():
            p = wait_point(collector, of("emp-api", metric), f"emp-api {metric}", 5, logs)
            if p["type"] != kind or p["unit"] != unit:
                fail(f"{metric}: expected {kind} in {unit!r}, got {p['type']} in {p['unit']!r}")
        restarts = wait_point(collector, of("emp-api", "service.restarts"), "restarts", 5, logs)
        if not restarts["monotonic"] or restarts["temporality"] != 2 or restarts["value"] != 0:
            fail(f"service.restarts: expected a cumulative monotonic sum of 0, got {restarts}")
        uptime = wait_point(collector, of("emp-api", "service.uptime_seconds"), "uptime", 5, logs)
        if not 0 <= uptime["value"] < 60:
            fail(f"service.uptime_seconds: expected 0..60 s for a fresh process, got {uptime}")
        modes = {p["attributes"].get("cpu.mode") for p in [
            wait_point(collector, lambda p: of("emp-api", "process.cpu.time")(p) and
                       p["attributes"].get("cpu.mode") == m, f"cpu.mode={m}", 5, logs)
            for m in ("user", "system")]}
        if modes != {"user", "system"}:
            fail(f"process.cpu.time: expected cpu.mode user and system, got {modes}")

        # sidelight's own heartbeat.
        wait_point(collector, lambda p: of("sidelight", "service.heartbeat")(p) and p["value"] == 1,
                   "sidelight's own service.heartbeat=1", 5, logs)

        # A kill is exported at once (the interval is 60 s).
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
        down = wait_point(collector, lambda p: of("emp-api", "service.heartbeat")(p) and p["value"] == 0,
                          "emp-api service.heartbeat=0 after the kill", 5, logs)
        if down["attributes"].get("service.status") != "down":
            fail(f"expected service.status=down, got {down['attributes']}")
        if down["resource"]["service.instance.id"] != r["service.instance.id"]:
            fail("the down heartbeat carries another service.instance.id than the live one")
        # The target as a whole is down too, with no live instance, and says why.
        gone = wait_point(collector, lambda p: target_of("emp-api", "service.heartbeat")(p) and
                          p["value"] == 0, "emp-api target-level service.heartbeat=0", 5, logs)
        if gone["attributes"].get("service.status") != "down":
            fail(f"target-level heartbeat after the kill: expected down, got {gone['attributes']}")
        if gone["attributes"].get("service.down.reason") not in ("signaled", "unknown"):
            fail(f"service.down.reason: expected signaled (or unknown), got {gone['attributes']}")
        wait_point(collector, lambda p: target_of("emp-api", "service.instances")(p) and
                   p["value"] == 0, "emp-api service.instances=0 after the kill", 5, logs)

        # Why it ended, as an event beside the heartbeat.
        event = wait_exit_event(collector, "emp-api", "the exit event of emp-api", logs)
        print(f"exit event of a SIGKILL: {event['attributes']}")
        if event["attributes"].get("service.down.reason") != gone["attributes"].get(
                "service.down.reason"):
            fail(f"exit event and heartbeat disagree on the reason: {event} vs {gone}")
        if (event["attributes"].get("service.down.reason") == "signaled" and
                event["attributes"].get("process.exit.signal") != "SIGKILL"):
            fail(f"exit event of a SIGKILL: expected process.exit.signal=SIGKILL, got {event}")

        # A process that exits with status 3.
        ends.stdin.close()
        ends.wait()
        event = wait_exit_event(collector, "emp-ends", "the exit event of emp-ends", logs)
        print(f"exit event of an exit(3): {event['attributes']}")
        a = event["attributes"]
        if a.get("service.down.reason") != "unknown" and (
                a.get("service.down.reason") != "exited" or a.get("process.exit.code") != 3):
            fail(f"exit event of an exit(3): expected reason exited and code 3, got {event}")

        # A crash loop: three instances of sl-loop killed one after the other.
        for i in range(3):
            p = s.process([loop_bin, "600"])
            wait_point(collector, lambda q: of("emp-loop", "service.heartbeat")(q) and
                       q["value"] == 1 and q["resource"].get("process.pid") == p.pid,
                       f"emp-loop instance {i + 1} up", 10, logs)
            last_kill_ns = time.time_ns()
            p.send_signal(signal.SIGKILL)
            p.wait()
        wait_point(collector, lambda q: target_of("emp-loop", "service.heartbeat")(q) and
                   q["attributes"].get("service.status") == "crash_loop",
                   "emp-loop target-level service.status=crash_loop", 10, logs)
        # Its only match is gone: no live instance, and the target as a whole is 0.
        wait_point(collector, lambda q: target_of("emp-loop", "service.instances")(q) and
                   q["value"] == 0 and q["time"] >= last_kill_ns,
                   "emp-loop service.instances=0 after the last kill", 5, logs)

        check_probe(collector, health, target_of, logs)
        health.close()

        code = agent.stop()
        if code != 0:
            fail(f"sidelight exited {code} on SIGTERM")
        print("ok: the Collector received sidelight's heartbeats with the documented names, "
              "types, units, values and resource attributes")


if __name__ == "__main__":
    main()
