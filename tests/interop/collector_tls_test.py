#!/usr/bin/env python3
"""Interop: sidelight exports over TLS to the real Collector, trusting a private CA through
`tls.ca_file`, with a custom header; a CA that did not sign the server's certificate is refused
(the export fails and nothing arrives).

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

        def start(name, ca):
            return s.sidelight(f"""
heartbeat: {{ interval: 60s }}
targets:
  - name: {name}
    pid: {os.getpid()}
exporters:
  otlp:
    endpoint: 127.0.0.1:{collector.port}
    headers: {{ x-tenant: interop }}
    tls: {{ ca_file: {ca} }}
""", name)

        good = start("tls-good", ca_crt)
        wait_point(collector, lambda p: p["resource"].get("service.name") == "tls-good" and
                   p["name"] == "service.heartbeat" and p["value"] == 1,
                   "a heartbeat over TLS trusted through ca_file", 15, (good.log, collector.log))

        bad = start("tls-wrong-ca", other_ca)
        deadline = time.monotonic() + 15
        while "upstream failed" not in open(bad.log).read():
            if time.monotonic() > deadline:
                fail("with a CA that did not sign the server's certificate, sidelight did not "
                     "report a failed export\n" + open(bad.log).read())
            time.sleep(0.05)
        arrived = [p for p in _points(collector) if p["resource"].get("service.name") ==
                   "tls-wrong-ca"]
        if arrived:
            fail("data arrived although the server's certificate is not trusted")
        print("ok: TLS with ca_file works against the real Collector, and an untrusted "
              "certificate is refused")


def _points(collector):
    return list(points(collector.requests()))


if __name__ == "__main__":
    main()
