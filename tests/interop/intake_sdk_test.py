#!/usr/bin/env python3
"""Interop: real clients hand spans and logs to sidelight over its Unix sockets, and the real
OpenTelemetry Collector, as the upstream, shows exactly what arrived.

- the OpenTelemetry Python SDK (from PyPI) over OTLP/gRPC on a unix: endpoint, as a watched
  target, so sidelight fills in the resource attributes the SDK left out;
- socat over the NDJSON stream and datagram sockets, with one bad line among good ones.

    intake_sdk_test.py path/to/sidelight
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from interop import (TIME_SCALE, admin_status, check_books, fail, log_records, sdk_python,  # noqa: E402
                     session, spans, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))


def wait_path(path, agent, timeout=10):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while not os.path.exists(path):
        if agent.proc.poll() is not None:
            fail(f"sidelight exited with {agent.proc.returncode} before creating {path}")
        if time.monotonic() >= deadline:
            fail(f"sidelight did not create {path} within {timeout * TIME_SCALE}s")
        time.sleep(0.02)  # a path appearing gives no event to await


def main():
    python = sdk_python()
    with session(sys.argv[1]) as s:
        collector = s.start_collector()
        w = s.work
        agent = s.sidelight(f"""
resource:
  deployment.environment.name: interop
heartbeat: {{ interval: 60s }}
targets:
  - name: emp-py
    version: 2.0.0
    process: {{ cmdline: 'sdk_client\\.py' }}
intake:
  otlp_grpc: {{ unix: {w}/otlp.sock }}
  ndjson: {{ unix: {w}/ndjson.sock, unix_datagram: {w}/ndjson.dgram }}
batch: {{ timeout: 100ms }}
exporters:
  otlp:
    endpoint: {collector.endpoint}
    compression: none
""")
        logs = (agent.log, collector.log)
        for name in ("otlp.sock", "ndjson.sock", "ndjson.dgram"):
            wait_path(os.path.join(w, name), agent)

        ids_file = os.path.join(w, "ids.json")
        client = subprocess.run(
            [python, os.path.join(HERE, "sdk", "sdk_client.py"), "--protocol", "grpc",
             "--endpoint", f"unix://{w}/otlp.sock", "--spans", "700", "--logs", "50",
             "--ids", ids_file], timeout=120 * TIME_SCALE, capture_output=True, text=True)
        if client.returncode != 0:
            fail(f"the Python SDK client failed: {client.stderr}")
        with open(ids_file) as f:
            sent = {tuple(p) for p in json.load(f)["spans"]}

        ndjson_stream = "\n".join([
            '{"timestamp":"2024-03-15T10:23:45.123Z","level":"error","service":"order-service",'
            '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",'
            '"message":"Failed to process order","order_id":"12345","duration_ms":234}',
            '{"time":1710498225000000000,"severity":"warn","msg":"slow","service":"order-service"}',
            'this is not json',
            '{"service":"order-service","span":{"name":"checkout","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
            '"span_id":"00f067aa0ba902b8","parent_span_id":"00f067aa0ba902b7","kind":"server",'
            '"start":"2024-03-15T10:23:45.000Z","end":"2024-03-15T10:23:45.250Z",'
            '"status":{"code":"error","message":"boom"},"attributes":{"http.route":"/pay"}}}',
            '{"level":"info","message":"last line without a newline"}',
        ])
        subprocess.run(["socat", "-", f"UNIX-CONNECT:{w}/ndjson.sock"], input=ndjson_stream,
                       text=True, check=True, timeout=10)
        subprocess.run(["socat", "-", f"UNIX-SENDTO:{w}/ndjson.dgram"],
                       input='{"level":"debug","message":"by datagram"}\n', text=True, check=True,
                       timeout=10)

        def all_spans(requests):
            got = list(spans(requests))
            return got if len(got) >= len(sent) + 1 else None

        got = wait_until(collector, all_spans, f"{len(sent) + 1} spans", 30, logs)
        sdk_spans = [sp for sp in got if sp["resource"].get("service.name") == "emp-py-grpc"]
        if {(sp["trace_id"], sp["span_id"]) for sp in sdk_spans} != sent or len(sdk_spans) != 700:
            fail(f"expected exactly the 700 spans the SDK sent, got {len(sdk_spans)}")
        r = sdk_spans[0]["resource"]
        expect = {"service.name": "emp-py-grpc",          # the client's own: never overwritten
                  "telemetry.sdk.language": "python",      # the client's own
                  "service.version": "2.0.0",              # from the watched target
                  "deployment.environment.name": "interop"}
        for key, value in expect.items():
            if r.get(key) != value:
                fail(f"SDK span resource {key}: expected {value!r}, got {r.get(key)!r} in {r}")
        for key in ("service.instance.id", "host.name", "process.pid"):
            if not r.get(key):
                fail(f"SDK span resource lacks {key}: {r}")
        if sorted(sp["attributes"]["i"] for sp in sdk_spans) != list(range(700)):
            fail("the spans' attribute i does not come through intact")

        checkout = [sp for sp in got if sp["name"] == "checkout"]
        if len(checkout) != 1:
            fail(f"expected the one NDJSON span, got {checkout}")
        c = checkout[0]
        want = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b8",
                "parent_span_id": "00f067aa0ba902b7", "kind": 2}
        for key, value in want.items():
            if c[key] != value:
                fail(f"NDJSON span {key}: expected {value!r}, got {c[key]!r}")
        if c["status"].get("code") != 2 or c["status"].get("message") != "boom":
            fail(f"NDJSON span status: {c['status']}")
        if c["end"] - c["start"] != 250_000_000 or c["attributes"].get("http.route") != "/pay":
            fail(f"NDJSON span times or attributes: {c}")
        if c["resource"].get("service.name") != "order-service":
            fail(f"NDJSON span resource: {c['resource']}")

        def all_logs(requests):
            got = list(log_records(requests))
            return got if len(got) >= 50 + 4 else None

        got_logs = wait_until(collector, all_logs, "54 log records", 30, logs)
        sdk_logs = [lr for lr in got_logs if lr["resource"].get("service.name") == "emp-py-grpc"]
        if len(sdk_logs) != 50 or sdk_logs[0]["resource"].get("service.version") != "2.0.0":
            fail(f"expected the 50 SDK log records with service.version, got {len(sdk_logs)}")
        by_body = {lr["body"]: lr for lr in got_logs}
        failed = by_body.get("Failed to process order")
        if not failed:
            fail(f"the NDJSON error line did not arrive: {list(by_body)}")
        want = {"severity_number": 17, "severity_text": "error",
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
                "time": 1710498225123000000}
        for key, value in want.items():
            if failed[key] != value:
                fail(f"NDJSON log {key}: expected {value!r}, got {failed[key]!r}")
        if failed["attributes"] != {"order_id": "12345", "duration_ms": 234}:
            fail(f"NDJSON log attributes: {failed['attributes']}")
        if failed["resource"].get("service.name") != "order-service" or \
                failed["resource"].get("deployment.environment.name") != "interop":
            fail(f"NDJSON log resource: {failed['resource']}")
        for body in ("slow", "last line without a newline", "by datagram"):
            if body not in by_body:
                fail(f"the NDJSON line {body!r} did not arrive: {list(by_body)}")
        if by_body["slow"]["severity_number"] != 13 or by_body["slow"]["time"] != 1710498225000000000:
            fail(f"NDJSON warn line: {by_body['slow']}")

        status = admin_status(sys.argv[1], os.path.join(w, "admin.sock"))
        check_books(status)
        intake = {i["protocol"]: i for i in status["intake"]}
        if intake["ndjson"]["bad"] != 1 or intake["ndjson"]["items"] != 5:
            fail(f"NDJSON intake counters: expected 5 items and 1 bad line, got {intake['ndjson']}")
        if intake["otlp_grpc"]["items"] != 750 or intake["otlp_grpc"]["bad"] != 0:
            fail(f"OTLP/gRPC intake counters: expected 750 items, got {intake['otlp_grpc']}")
        with open(agent.log) as f:
            text = f.read()
        if "bad line(s) from pid" not in text or "(socat)" not in text:
            fail("the bad NDJSON line was not reported naming its client")
        print("ok: the Python SDK over gRPC and socat over NDJSON arrived exactly")


if __name__ == "__main__":
    main()
