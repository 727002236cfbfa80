#!/usr/bin/env python3
"""Interop: sidelight exports OTLP/HTTP (protobuf, gzip) to the real Collector's HTTP receiver,
under a base path: heartbeats, spans and logs arrive exactly as sent. Then the Collector is
stopped and started again while spans stream in, once for each exporter protocol (OTLP/HTTP and
OTLP/gRPC): every span sent arrives, nothing is dropped, and the books balance.

    collector_http_test.py path/to/sidelight
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from interop import (admin_status, check_books, fail, log_records,  # noqa: E402
                     session, spans, wait_path, wait_point, wait_until)

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def span_line(name, i):
    return json.dumps({"service": "http-client", "span": {
        "name": name, "trace_id": TRACE_ID, "span_id": f"{i + 1:016x}", "kind": "server",
        "start": "2024-03-15T10:23:45.000Z", "end": "2024-03-15T10:23:45.250Z"}}) + "\n"


def send_lines(path, text):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(text.encode())


def span_names(collector, prefix):
    return [s["name"] for s in spans(collector.requests()) if s["name"].startswith(prefix)]


def agent_yaml(work, name, endpoint, protocol):
    return f"""
heartbeat: {{ interval: 60s }}
targets:
  - name: {name}
    pid: {os.getpid()}
batch: {{ timeout: 50ms }}
intake:
  ndjson: {{ unix: {work}/{name}.sock }}
exporters:
  otlp:
    endpoint: {endpoint}
    protocol: {protocol}
    compression: gzip
    headers: {{ x-tenant: interop }}
    retry: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s }}
admin: {{ listen: 'unix:{work}/{name}-admin.sock' }}
"""


def restart_mid_stream(s, collector, name, agent, total=300):
    """Streams `total` spans through sidelight with the Collector gone for the middle third."""
    sock = f"{s.work}/{name}.sock"
    for i in range(total):
        if i == total // 3:
            collector.stop()
        if i == 2 * total // 3:
            collector.start()
        send_lines(sock, span_line(f"{name}-{i}", i))
        time.sleep(0.01)  # a steady stream, not one burst
    expected = {f"{name}-{i}" for i in range(total)}
    wait_until(collector, lambda _: expected <= set(span_names(collector, name + "-")),
               f"all {total} spans of {name} after the Collector's restart", 30,
               (agent.log, collector.log))
    status = admin_status(s.binary, f"{s.work}/{name}-admin.sock")
    check_books(status)
    lane = next(p for p in status["pipelines"]
                if p["signal"] == "traces" and p["exporter"] == "otlp")
    if sum(lane["dropped"].values()) != 0 or lane["exported"] < total:
        fail(f"{name}: expected all {total} spans exported and none dropped: {lane}")
    if lane["retries"] < 1:
        fail(f"{name}: the Collector was down, yet no export was retried: {lane}")
    duplicates = len(span_names(collector, name + "-")) - total
    # At least once: a request the Collector took just as it stopped may come again.
    print(f"ok: {name}: {total} spans through a Collector restart, none lost, "
          f"{duplicates} delivered twice")


def main():
    with session(sys.argv[1]) as s:
        collector = s.start_collector(http_base="/otlp")
        w = s.work
        http_agent = s.sidelight(agent_yaml(w, "via-http", collector.http_endpoint + "/otlp",
                                            "http/protobuf"), "via-http")
        logs = (http_agent.log, collector.log)
        wait_path(f"{w}/via-http.sock", http_agent)

        wait_point(collector, lambda p: p["resource"].get("service.name") == "via-http" and
                   p["name"] == "service.heartbeat" and p["value"] == 1,
                   "a heartbeat over OTLP/HTTP", 15, logs)
        send_lines(f"{w}/via-http.sock", "".join(span_line(f"first-{i}", i) for i in range(50)) +
                   '{"level":"warn","service":"http-client","message":"over http",'
                   f'"trace_id":"{TRACE_ID}","span_id":"0000000000000001","k":"v"}}\n')
        got = wait_until(collector, lambda r: len(span_names(collector, "first-")) >= 50 and
                         [x for x in log_records(r) if x["body"] == "over http"],
                         "50 spans and a log record over OTLP/HTTP", 15, logs)
        record = got[0]
        if (record["severity_number"] != 13 or record["trace_id"] != TRACE_ID or
                record["attributes"].get("k") != "v"):
            fail(f"the log record arrived changed: {record}")
        first = [x for x in spans(collector.requests()) if x["name"].startswith("first-")]
        if sorted(x["span_id"] for x in first) != [f"{i + 1:016x}" for i in range(50)]:
            fail(f"span ids changed on the way: {sorted(x['span_id'] for x in first)}")
        if any(x["trace_id"] != TRACE_ID or x["end"] - x["start"] != 250_000_000 for x in first):
            fail(f"spans arrived changed: {first[0]}")
        print("ok: heartbeats, spans and logs over OTLP/HTTP with gzip under a base path")

        restart_mid_stream(s, collector, "via-http", http_agent)
        grpc_agent = s.sidelight(agent_yaml(w, "via-grpc", collector.endpoint, "grpc"),
                                 "via-grpc")
        wait_path(f"{w}/via-grpc.sock", grpc_agent)
        restart_mid_stream(s, collector, "via-grpc", grpc_agent)

        for agent in (http_agent, grpc_agent):
            if agent.stop() != 0:
                fail("sidelight did not exit 0 on SIGTERM")


if __name__ == "__main__":
    main()
