#!/usr/bin/env python3
"""Interop: sidelight exports over TLS to the real Collector, trusting a private CA through
`tls.ca_file`, with a custom header, over OTLP/gRPC and over OTLP/HTTP (https://, by IP address
and by name); a CA that did not sign the server's certificate, and a certificate that does not
name the server (`tls.server_name`), are refused (the export fails and nothing arrives).

    collector_tls_test.py path/to/sidelight
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from interop import fail, points, session, wait_point  # noqa: E402


def make_ca(work, name):
    key, crt = os.path.join(work, f"{name}-ca.key"), os.path.join(work, f"{name}-ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name} test CA", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return key, crt


def make_server_cert(work, ca_key, ca_crt):
    key, csr, crt = (os.path.join(work, f"server.{e}") for e in ("key", "csr", "crt"))
    ext = os.path.join(work, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    return key, crt


def main():
    with session(sys.argv[1]) as s:
        ca_key, ca_crt = make_ca(s.work, "good")
        _, other_ca = make_ca(s.work, "other")
        key, crt = make_server_cert(s.work, ca_key, ca_crt)
        collector = s.start_collector(tls=(crt, key))

        def start(name, ca, endpoint=f"127.0.0.1:{collector.port}", protocol="grpc",
                  server_name=""):
            return s.sidelight(f"""
heartbeat: {{ interval: 60s }}
targets:
  - name: {name}
    pid: {os.getpid()}
exporters:
  otlp:
    endpoint: {endpoint}
    protocol: {protocol}
    headers: {{ x-tenant: interop }}
    tls: {{ ca_file: {ca}, server_name: "{server_name}" }}
""", name)

        def beat_arrives(name, agent, what):
            wait_point(collector, lambda p: p["resource"].get("service.name") == name and
                       p["name"] == "service.heartbeat" and p["value"] == 1,
                       what, 15, (agent.log, collector.log))

        def refused(name, agent, what):
            deadline = time.monotonic() + 15
            while "upstream failed" not in open(agent.log).read():
                if time.monotonic() > deadline:
                    fail(f"{what}: with a CA that did not sign the server's certificate, "
                         "sidelight did not report a failed export\n" + open(agent.log).read())
                time.sleep(0.05)
            if [p for p in _points(collector) if p["resource"].get("service.name") == name]:
                fail(f"{what}: data arrived although the server's certificate is not trusted")

        good = start("tls-good", ca_crt)
        beat_arrives("tls-good", good, "a heartbeat over OTLP/gRPC with TLS trusted through ca_file")
        bad = start("tls-wrong-ca", other_ca)
        refused("tls-wrong-ca", bad, "OTLP/gRPC")

        https = f"https://127.0.0.1:{collector.http_port}"
        for name, endpoint in (("https-ip", https),
                               ("https-name", f"https://localhost:{collector.http_port}")):
            agent = start(name, ca_crt, endpoint, "http/protobuf")
            beat_arrives(name, agent, f"a heartbeat over OTLP/HTTP to {endpoint}")
        bad_http = start("https-wrong-ca", other_ca, https, "http/protobuf")
        refused("https-wrong-ca", bad_http, "OTLP/HTTP")
        # A trusted certificate that does not name the server is refused too.
        for name, endpoint, protocol in (("tls-wrong-name", f"127.0.0.1:{collector.port}", "grpc"),
                                         ("https-wrong-name", https, "http/protobuf")):
            agent = start(name, ca_crt, endpoint, protocol, server_name="wrong.example")
            refused(name, agent, f"{protocol} with server_name wrong.example")
        if "certificate verify failed" not in open(bad_http.log).read():
            fail("the OTLP/HTTP exporter did not say why the TLS handshake failed\n" +
                 open(bad_http.log).read())
        print("ok: TLS with ca_file works against the real Collector over gRPC and HTTP, and an "
              "untrusted certificate is refused")


def _points(collector):
    return list(points(collector.requests()))


if __name__ == "__main__":
    main()
