#!/usr/bin/env python3
"""Soak: sidelight under a steady load for a long time while its upstream comes and goes.

    bench/soak.py [--minutes 30] [--rate 100000] [--flap 60] [--clients 2] [--hostile 0]
                  [--binary build/bin/sidelight]

Starts the real Collector (the interop build, cached under ~/.cache/sidelight) with an OTLP/gRPC
receiver and the `debug` exporter, and sidelight with OTLP/HTTP intake on a Unix socket exporting
to it over OTLP/gRPC. --clients processes here send pre-serialized 512-span trace requests, each
over one kept-alive connection, at --rate spans per second between them. For the second half of every --flap seconds the
Collector is stopped. Every 10 s the script samples sidelight's RSS and its /api/v1/status and
checks every lane's books (received = exported + dropped + queued + in flight). With --hostile N,
N more processes attack intake the whole time (see hostile()) and a /healthz probe runs every
second; every probe must be answered.

At the end it stops sending, lets the queues drain with the Collector up, and reports what was
sent, accepted, exported, dropped (by reason) and what the Collector counted, and RSS over time.
Exit status 1 when the books ever failed to balance, when intake accepted a span that the books
do not hold, or when the peak RSS of the last fifth of the run is more than 10 % above that of the
second fifth (the first is warm-up; RSS swings with the upstream, so peaks are compared).

Outside CI: it runs as long as it is told. Figures go to docs/PERFORMANCE.md.
"""
import argparse
import multiprocessing
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "interop"))
from interop import admin_status, collector_binary, free_port, wait_port  # noqa: E402


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number, payload):  # length-delimited
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def request(spans, seed):
    """An ExportTraceServiceRequest of `spans` spans with six attributes each, encoded by hand."""
    now = time.time_ns()
    attrs = b"".join(field(9, field(1, k.encode()) + field(2, field(1, v.encode())))
                     for k, v in (("http.method", "GET"), ("http.route", "/api/orders/{id}"),
                                  ("http.status_code", "200"), ("net.peer.name", "db.internal"),
                                  ("user_agent.original", "soak/1.0"), ("thread.name", "worker-7")))
    body = b""
    for i in range(spans):
        trace_id = struct.pack(">QQ", seed, i)
        span = (field(1, trace_id) + field(2, struct.pack(">Q", i + 1)) +
                field(5, f"GET /api/orders/{i}".encode()) + varint(6 << 3) + varint(2) +
                varint(7 << 3 | 1) + struct.pack("<Q", now) + varint(8 << 3 | 1) +
                struct.pack("<Q", now + 1_000_000) + attrs)
        body += field(2, span)
    resource = field(1, field(1, b"service.name") + field(2, field(1, b"soak-client")))
    scope = field(1, field(1, b"soak"))
    return field(1, field(1, resource) + field(2, scope + body))


class Client:
    """OTLP/HTTP over a Unix socket, one kept-alive connection."""

    def __init__(self, path):
        self.path = path
        self.sock = None

    def post(self, body):
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
            self.buf = b""
        head = (f"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                f"application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            self.sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            # Closed by sidelight since the last answer (idle, or at max_connections): anew.
            self.sock = None
            return self.post(body)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("sidelight closed the connection")
            self.buf += chunk
        header, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(header.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", header).group(1))
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        self.buf = self.buf[length:]
        if re.search(rb"(?i)\r\nconnection:\s*close", header):
            # A request refused before its body was read (429 while a queue pushes back) ends
            # the connection: the next request goes on a new one, as an SDK's does.
            self.sock.close()
            self.sock = None
        return status


def send_paced(path, rate, t0, stop, sent, accepted, refused):
    """One client process: sends 512-span requests so that its count never runs ahead of `rate`."""
    bodies = [request(512, seed) for seed in range(8)]
    client = Client(path)
    n = 0
    while not stop.is_set():
        ahead = t0 + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(min(ahead, 0.05))
            continue
        status = client.post(bodies[(n // 512) % len(bodies)])
        n += 512
        with sent.get_lock():
            sent.value += 512
        counter = accepted if status == 200 else refused
        with counter.get_lock():
            counter.value += 512


def hostile(work, stop, attacks):
    """One hostile client process: cycles through the attacks intake must survive, each bounded in
    what it may cost (docs/RELIABILITY.md, "Hostile peers and files"), and counts them."""
    http, ndjson, dgram = (f"{work}/{n}" for n in ("otlp-http.sock", "ndjson.sock", "ndjson.dgram"))

    def conn(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        return s

    def send(s, data):
        try:
            s.sendall(data)
        except OSError:
            pass  # refused and closed by sidelight: what it should do

    def slow_http():  # 3 MiB into a 4 MiB body, then silence
        s = conn(http)
        send(s, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf"
                b"\r\nContent-Length: 4193280\r\n\r\n" + b"\n" * (3 << 20))
        return [s]

    def long_line():  # 5 MiB, over max_message_size, then the connection stays
        s = conn(ndjson)
        send(s, b"x" * (5 << 20) + b"\n")
        return [s]

    def unfinished_line():
        s = conn(ndjson)
        send(s, b'{"body":"' + b"y" * (3 << 20))
        return [s]

    def garbage():
        s = conn(http)
        send(s, os.urandom(64 << 10))
        return [s]

    def chunk_extension():
        s = conn(http)
        send(s, b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;e="
             + b"a" * (1 << 20))
        return [s]

    def idle():
        return [conn(ndjson) for _ in range(50)]

    def datagrams():
        d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for i in range(2000):
            try:
                d.sendto(b'{"service":"s%d"}' % i, dgram)
            except OSError:
                pass
        d.close()
        return []

    kinds = [slow_http, long_line, unfinished_line, garbage, chunk_extension, idle, datagrams]
    held = []
    n = 0
    while not stop.is_set():
        try:
            held += kinds[n % len(kinds)]()
        except OSError:
            pass
        n += 1
        with attacks.get_lock():
            attacks.value += 1
        if len(held) > 60:  # let go of the oldest, as clients come and go
            for s in held[:-20]:
                s.close()
            held = held[-20:]
        time.sleep(0.2)


def probe(work, stop, probes, failures):
    """A liveness probe: /healthz on the admin socket every second, answered within one."""
    while not stop.is_set():
        ok = False
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(f"{work}/admin.sock")
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/1.1 200")
            s.close()
        except OSError:
            pass
        with probes.get_lock():
            probes.value += 1
        if not ok:
            with failures.get_lock():
                failures.value += 1
        time.sleep(1)


def memory_kib(pid):
    """RSS and its anonymous and file-backed parts, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    return tuple(int(re.search(rf"{k}:\s+(\d+)", text).group(1))
                 for k in ("VmRSS", "RssAnon", "RssFile"))


def balanced(lane):
    return lane["received"] == (lane["exported"] + sum(lane["dropped"].values()) +
                                lane["queued_items"] + lane["in_flight"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=100_000, help="spans per second")
    ap.add_argument("--flap", type=float, default=60, help="seconds per upstream up/down cycle")
    ap.add_argument("--clients", type=int, default=2, help="sending processes")
    ap.add_argument("--hostile", type=int, default=0,
                    help="hostile client processes beside the good ones (slow senders, lines too "
                         "long or unfinished, garbage, endless chunk extensions, idle connections, "
                         "datagram floods), and a /healthz probe every second")
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                     "bin", "sidelight"))
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="sidelight-soak.")
    # A copy: a rebuild during a long soak must not pull the binary from under it.
    shutil.copy2(a.binary, os.path.join(work, "sidelight"))
    a.binary = os.path.join(work, "sidelight")
    port = free_port()
    col_cfg = os.path.join(work, "collector.yaml")
    col_log = os.path.join(work, "collector.log")
    with open(col_cfg, "w") as f:
        f.write(f"""receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: 127.0.0.1:{port} }} }} }}
exporters:
  debug: {{ verbosity: basic, sampling_initial: 1000000, sampling_thereafter: 1 }}
service:
  telemetry:
    metrics: {{ level: none }}
    logs: {{ sampling: {{ enabled: false }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug] }}
    metrics: {{ receivers: [otlp], exporters: [debug] }}
""")
    otelcol = collector_binary()

    def start_collector():
        p = subprocess.Popen([otelcol, "--config", col_cfg], stdout=open(col_log, "a"),
                             stderr=subprocess.STDOUT)
        wait_port(port, p, "the Collector")
        return p

    sl_cfg = os.path.join(work, "sidelight.yaml")
    with open(sl_cfg, "w") as f:
        f.write(f"""heartbeat: {{ interval: 15s }}
log: {{ level: warn }}
admin: {{ listen: 'unix:{work}/admin.sock' }}
intake:
  otlp_http: {{ unix: {work}/otlp-http.sock }}
  ndjson: {{ unix: {work}/ndjson.sock, unix_datagram: {work}/ndjson.dgram }}
queue: {{ max_bytes: 64MiB }}
exporters:
  otlp:
    endpoint: http://127.0.0.1:{port}
    compression: none
    retry: {{ initial_interval: 500ms, max_interval: 5s, max_elapsed_time: 0s }}
""")
    collector = start_collector()
    agent = subprocess.Popen([a.binary, "run", "--config", sl_cfg],
                             stdout=open(os.path.join(work, "sidelight.log"), "w"),
                             stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"{work}/otlp-http.sock"):
        if time.monotonic() > deadline or agent.poll() is not None:
            sys.exit(f"sidelight did not start; see {work}/sidelight.log")
        time.sleep(0.05)

    sent_v, accepted_v, refused_v = (multiprocessing.Value("q", 0) for _ in range(3))
    stop = multiprocessing.Event()
    samples, unbalanced = [], []
    t0 = time.monotonic()
    clients = [multiprocessing.Process(target=send_paced,
                                       args=(f"{work}/otlp-http.sock", a.rate / a.clients, t0, stop,
                                             sent_v, accepted_v, refused_v))
               for _ in range(a.clients)]
    attacks_v, probes_v, probe_failures_v = (multiprocessing.Value("q", 0) for _ in range(3))
    if a.hostile:
        clients += [multiprocessing.Process(target=hostile, args=(work, stop, attacks_v))
                    for _ in range(a.hostile)]
        clients.append(multiprocessing.Process(target=probe,
                                               args=(work, stop, probes_v, probe_failures_v)))
    for c in clients:
        c.start()
    end = t0 + a.minutes * 60
    next_sample = t0 + 10
    up = True
    print(f"soak: {a.minutes} min at {a.rate} spans/s, upstream down half of every {a.flap} s; "
          f"work dir {work}", flush=True)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if any(c.exitcode not in (None, 0) for c in clients):
            sys.exit("a client process failed")
        want_up = ((now - t0) % a.flap) < a.flap / 2
        if want_up and not up:
            collector = start_collector()
            up = True
        elif not want_up and up:
            collector.terminate()
            collector.wait(20)
            up = False
        if now >= next_sample:
            next_sample += 10
            sent = sent_v.value
            st = admin_status(a.binary, f"{work}/admin.sock")
            lanes = st.get("pipelines", [])
            for lane in lanes:
                if not balanced(lane):
                    unbalanced.append((now - t0, lane))
            traces = next(l for l in lanes if l["signal"] == "traces")
            rss, anon, file = memory_kib(agent.pid)
            samples.append((now - t0, rss, traces, anon, file))
            print(f"{now - t0:7.0f} s  rss {rss / 1024:6.1f} MiB (anon {anon / 1024:5.1f}, file "
                  f"{file / 1024:4.1f})  upstream "
                  f"{'up  ' if up else 'down'}  sent {sent}  received {traces['received']}  "
                  f"exported {traces['exported']}  dropped {sum(traces['dropped'].values())}  "
                  f"queued {traces['queued_items']}", flush=True)
        time.sleep(min(0.05, max(0.0, next_sample - time.monotonic())))

    stop.set()
    for c in clients:
        c.join(30)
    sent, accepted, refused = sent_v.value, accepted_v.value, refused_v.value
    if not up:
        collector = start_collector()
    drain_deadline = time.monotonic() + 120
    while True:
        st = admin_status(a.binary, f"{work}/admin.sock")
        traces = next(l for l in st["pipelines"] if l["signal"] == "traces")
        if traces["queued_items"] == 0 and traces["in_flight"] == 0:
            break
        if time.monotonic() > drain_deadline:
            print("the queues did not drain within 120 s", flush=True)
            break
        time.sleep(0.5)
    final_rss = memory_kib(agent.pid)[0]
    agent.terminate()
    agent.wait(30)
    collector.terminate()
    collector.wait(20)
    counted = sum(int(n) for n in re.findall(r'"spans": (\d+)', open(col_log).read()))

    # RSS swings with the upstream (a full queue while it is down): compare the peaks.
    fifth = max(1, len(samples) // 5)
    second = max(s[1] for s in samples[fifth:2 * fifth]) if len(samples) >= 5 else 0
    last = max(s[1] for s in samples[-fifth:])
    # What a leak would show in: anonymous memory (the file-backed part is code and grows only as
    # paths not run before run once).
    anon_second = max(s[3] for s in samples[fifth:2 * fifth]) if len(samples) >= 5 else 0
    anon_last = max(s[3] for s in samples[-fifth:])
    file_first, file_last = samples[0][4], samples[-1][4]
    dropped = traces["dropped"]
    print(f"\nsoak: {a.minutes} min, {sent} spans sent ({sent / (a.minutes * 60):.0f}/s), "
          f"{accepted} accepted, {refused} refused by intake")
    print(f"traces lane: received {traces['received']}, exported {traces['exported']}, dropped "
          f"{dropped}, queued {traces['queued_items']}, in flight {traces['in_flight']}")
    print(f"the Collector counted {counted} spans (at least once: retried requests it had taken "
          f"count twice)")
    print(f"RSS: peak {second / 1024:.1f} MiB in the second fifth, {last / 1024:.1f} MiB in the "
          f"last; {final_rss / 1024:.1f} MiB after draining; max "
          f"{max(s[1] for s in samples) / 1024:.1f} MiB")
    print(f"anonymous: peak {anon_second / 1024:.1f} MiB in the second fifth, "
          f"{anon_last / 1024:.1f} MiB in the last; file-backed {file_first / 1024:.1f} MiB at the "
          f"first sample, {file_last / 1024:.1f} MiB at the last")
    print(f"books balanced at all {len(samples)} samples: {not unbalanced}")
    ok = True
    if a.hostile:
        print(f"hostile: {attacks_v.value} attacks; /healthz answered "
              f"{probes_v.value - probe_failures_v.value} of {probes_v.value} probes")
        if probe_failures_v.value:
            print("FAIL: a /healthz probe went unanswered")
            ok = False
    if unbalanced:
        print(f"FAIL: books did not balance: {unbalanced[:3]}")
        ok = False
    if traces["received"] != accepted:
        print(f"FAIL: intake accepted {accepted} spans, the lane received {traces['received']}")
        ok = False
    if second and last > second * 1.10:
        print("FAIL: peak RSS grew by more than 10 % between the second and the last fifth")
        ok = False
    print("ok" if ok else f"see {work}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
