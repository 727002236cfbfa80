#!/usr/bin/env python3
"""Interop: real clients hand spans and logs to sidelight over its Unix sockets, and the real
OpenTelemetry Collector, as the upstream, shows exactly what arrived.

- the OpenTelemetry Python SDK (from PyPI) over OTLP/gRPC on a unix: endpoint, as a watched
  target, so sidelight fills in the resource attributes the SDK left out;
- the same SDK over OTLP/gRPC on the opt-in loopback TCP listener;
- the same SDK over OTLP/HTTP (protobuf) on a loopback TCP listener (its HTTP exporter cannot use
  a Unix socket), and curl over the OTLP/HTTP Unix socket with an OTLP/JSON body, gzip-compressed;
- socat over the NDJSON stream and datagram sockets, with one bad line among good ones.

    intake_sdk_test.py path/to/sidelight
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from interop import (TIME_SCALE, admin_status, check_books, fail, free_port,  # noqa: E402
                     log_records, sdk_python, session, spans, wait_path, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    python = sdk_python()
    with session(sys.argv[1]) as s:
        collector = s.start_collector()
        w = s.work
        http_port = free_port()
        grpc_port = free_port()
        agent = s.sidelight(f"""
resource:
  deployment.environment.name: interop
heartbeat: {{ interval: 60s }}
targets:
  - name: emp-py
    version: 2.0.0
    process: {{ cmdline: 'sdk_client\\.py' }}
intake:
  otlp_grpc: {{ unix: {w}/otlp.sock, tcp: "127.0.0.1:{grpc_port}" }}
  otlp_http: {{ unix: {w}/otlp-http.sock, tcp: "127.0.0.1:{http_port}" }}
  ndjson: {{ unix: {w}/ndjson.sock, unix_datagram: {w}/ndjson.dgram }}
batch: {{ timeout: 100ms }}
exporters:
  otlp:
    endpoint: {collector.endpoint}
    compression: none
""")
        logs = (agent.log, collector.log)
        for name in ("otlp.sock", "otlp-http.sock", "ndjson.sock", "ndjson.dgram"):
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

        tcp_ids = os.path.join(w, "tcp-ids.json")
        client = subprocess.run(
            [python, os.path.join(HERE, "sdk", "sdk_client.py"), "--protocol", "grpc",
             "--endpoint", f"http://127.0.0.1:{grpc_port}", "--spans", "100",
             "--service", "emp-py-grpc-tcp", "--ids", tcp_ids],
            timeout=120 * TIME_SCALE, capture_output=True, text=True)
        if client.returncode != 0:
            fail(f"the Python SDK client (OTLP/gRPC over TCP) failed: {client.stderr}")
        with open(tcp_ids) as f:
            sent_tcp = {tuple(p) for p in json.load(f)["spans"]}

        http_ids = os.path.join(w, "http-ids.json")
        client = subprocess.run(
            [python, os.path.join(HERE, "sdk", "sdk_client.py"), "--protocol", "http",
             "--endpoint", f"http://127.0.0.1:{http_port}", "--spans", "300", "--logs", "20",
             "--ids", http_ids], timeout=120 * TIME_SCALE, capture_output=True, text=True)
        if client.returncode != 0:
            fail(f"the Python SDK client (OTLP/HTTP) failed: {client.stderr}")
        with open(http_ids) as f:
            sent_http = {tuple(p) for p in json.load(f)["spans"]}

        otlp_json = json.dumps({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "curl-app"}}]},
            "scopeSpans": [{"scope": {"name": "curl"}, "spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "parentSpanId": "eee19b7ec3c1b173", "name": "from-curl", "kind": 3,
                "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
                "status": {"code": 2}}]}]}]})
        curl = subprocess.run(
            f"printf '%s' '{otlp_json}' | gzip | curl -sS --fail-with-body --unix-socket "
            f"{w}/otlp-http.sock -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' "
            f"--data-binary @- http://localhost/v1/traces",
            shell=True, capture_output=True, text=True, timeout=30)
        if curl.returncode != 0 or curl.stdout.strip() != "{}":
            fail(f"curl's OTLP/JSON request was not answered with 200 {{}}: {curl.stdout} {curl.stderr}")
        bad = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
             f"{w}/otlp-http.sock", "-H", "Content-Type: application/x-protobuf",
             "--data-binary", "\x0a\x05\x0a", "http://localhost/v1/traces"],
            capture_output=True, text=True, timeout=30)
        if bad.stdout != "400":
            fail(f"a truncated protobuf body: expected 400, got {bad.stdout} {bad.stderr}")

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
            return got if len(got) >= len(sent) + len(sent_http) + len(sent_tcp) + 2 else None

        got = wait_until(collector, all_spans,
                         f"{len(sent) + len(sent_http) + len(sent_tcp) + 2} spans", 30, logs)
        tcp_spans = [sp for sp in got if sp["resource"].get("service.name") == "emp-py-grpc-tcp"]
        if {(sp["trace_id"], sp["span_id"]) for sp in tcp_spans} != sent_tcp or len(tcp_spans) != 100:
            fail(f"expected exactly the 100 spans sent over OTLP/gRPC on TCP, got {len(tcp_spans)}")
        http_spans = [sp for sp in got if sp["resource"].get("service.name") == "emp-py-http"]
        if {(sp["trace_id"], sp["span_id"]) for sp in http_spans} != sent_http or \
                len(http_spans) != 300:
            fail(f"expected exactly the 300 spans the SDK sent over OTLP/HTTP, got {len(http_spans)}")
        # Over TCP the sending process is unknown: only the configured resource and host.name.
        hr = http_spans[0]["resource"]
        if hr.get("deployment.environment.name") != "interop" or not hr.get("host.name") or \
                "service.version" in hr:
            fail(f"OTLP/HTTP (TCP) span resource: {hr}")
        from_curl = [sp for sp in got if sp["name"] == "from-curl"]
        if len(from_curl) != 1 or from_curl[0]["trace_id"] != "5b8efff798038103d269b633813fc60c" \
                or from_curl[0]["parent_span_id"] != "eee19b7ec3c1b173" or from_curl[0]["kind"] != 3:
            fail(f"the OTLP/JSON span from curl: {from_curl}")
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
            return got if len(got) >= 50 + 20 + 4 else None

        got_logs = wait_until(collector, all_logs, "74 log records", 30, logs)
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
        if intake["otlp_grpc"]["items"] != 850 or intake["otlp_grpc"]["bad"] != 0:
            fail(f"OTLP/gRPC intake counters: expected 850 items, got {intake['otlp_grpc']}")
        if intake["otlp_http"]["items"] != 321 or intake["otlp_http"]["bad"] != 1:
            fail(f"OTLP/HTTP intake counters: expected 321 items, 1 bad, got {intake['otlp_http']}")
        with open(agent.log) as f:
            text = f.read()
        if "bad line(s) from pid" not in text or "(socat)" not in text:
            fail("the bad NDJSON line was not reported naming its client")
        print("ok: the Python SDK over gRPC and HTTP, curl over OTLP/JSON and socat over NDJSON "
              "arrived exactly")


if __name__ == "__main__":
    main()
