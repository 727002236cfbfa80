#!/usr/bin/env python3
"""Interop: the OpenTelemetry JavaScript SDK (from npm) exports spans to sidelight over OTLP/gRPC
on a Unix socket, configured only through the standard environment variables the README gives
(OTEL_EXPORTER_OTLP_ENDPOINT=unix://..., OTEL_EXPORTER_OTLP_INSECURE=true); the real Collector,
as the upstream, shows exactly what arrived.

    intake_js_test.py path/to/sidelight
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from interop import (TIME_SCALE, admin_status, check_books, fail, sdk_node_modules,  # noqa: E402
                     session, spans, wait_path, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    node_modules = sdk_node_modules()
    with session(sys.argv[1]) as s:
        collector = s.start_collector()
        w = s.work
        agent = s.sidelight(f"""
resource:
  deployment.environment.name: interop
heartbeat: {{ interval: 60s }}
targets:
  - name: emp-js-target
    version: 3.0.0
    process: {{ cmdline: 'sdk/js/client\\.js' }}
intake:
  otlp_grpc: {{ unix: {w}/otlp.sock }}
batch: {{ timeout: 100ms }}
exporters:
  otlp:
    endpoint: {collector.endpoint}
""")
        logs = (agent.log, collector.log)
        wait_path(os.path.join(w, "otlp.sock"), agent)
        env = dict(os.environ, NODE_PATH=node_modules,
                   OTEL_EXPORTER_OTLP_ENDPOINT=f"unix://{w}/otlp.sock",
                   OTEL_EXPORTER_OTLP_INSECURE="true")
        client = subprocess.run(["node", os.path.join(HERE, "sdk", "js", "client.js"), "500"],
                                env=env, capture_output=True, text=True, timeout=120 * TIME_SCALE)
        if client.returncode != 0:
            fail(f"the JavaScript SDK client failed: {client.stderr}")
        sent = {tuple(p) for p in json.loads(client.stdout)["spans"]}

        def arrived(requests):
            got = [sp for sp in spans(requests) if sp["resource"].get("service.name") == "emp-js"]
            return got if len(got) >= len(sent) else None

        got = wait_until(collector, arrived, f"{len(sent)} spans from the JavaScript SDK", 30, logs)
        if {(sp["trace_id"], sp["span_id"]) for sp in got} != sent or len(got) != 500:
            fail(f"expected exactly the 500 spans the JavaScript SDK sent, got {len(got)}")
        r = got[0]["resource"]
        expect = {"service.name": "emp-js",
                  "service.version": "3.0.0", "deployment.environment.name": "interop"}
        for key, value in expect.items():
            if r.get(key) != value:
                fail(f"JavaScript SDK span resource {key}: expected {value!r}, got {r.get(key)!r}")
        if sorted(sp["attributes"]["i"] for sp in got) != list(range(500)):
            fail("the spans' attribute i does not come through intact")
        check_books(admin_status(sys.argv[1], os.path.join(w, "admin.sock")))
        print("ok: 500 spans from the OpenTelemetry JavaScript SDK arrived exactly")


if __name__ == "__main__":
    main()
