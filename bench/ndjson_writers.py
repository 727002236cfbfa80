#!/usr/bin/env python3
"""NDJSON intake with several writers at once: lines a second, and lines per CPU-second of the
agent, for N writer processes each on its own stream connection.

  bench/ndjson_writers.py [--binary build/bin/sidelight] [--writers 8] [--lines 1600000]
                          [--threads N]

The agent runs with only NDJSON intake and its exporter pointed at a closed port, so that
nothing pushes back and the figure is intake's own (what it drops is counted, not the subject).
A run ends when sidelight_intake_items_total{protocol="ndjson"} on /metrics counts every line.
"""
import argparse
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

LINE = (b'{"timestamp":"2024-03-15T10:23:45.123Z","level":"error","service":"order-service",'
        b'"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",'
        b'"message":"Failed to process order","order_id":"12345","duration_ms":234}\n')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def items(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(r'sidelight_intake_items_total\{protocol="ndjson"\} (\S+)', text)
    return int(float(m.group(1))) if m else 0


def writer(path, blocks):
    block = LINE * 1000
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        for _ in range(blocks):
            s.sendall(block)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bin/sidelight")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--lines", type=int, default=1600000)
    ap.add_argument("--threads", type=int, help="intake.ndjson.threads (default: sidelight's)")
    o = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sidelight-ndjson.") as d:
        port, sock = free_port(), f"{d}/ndjson.sock"
        threads = f", threads: {o.threads}" if o.threads else ""
        with open(f"{d}/sidelight.yaml", "w") as f:
            f.write(f"heartbeat: {{ interval: 60s }}\nadmin: {{ listen: '127.0.0.1:{port}' }}\n"
                    f"log: {{ level: error }}\nintake:\n  ndjson: {{ unix: {sock}{threads} }}\n"
                    "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:1' }\n")
        agent = subprocess.Popen([o.binary, "run", "--config", f"{d}/sidelight.yaml"])
        try:
            deadline = time.time() + 30
            while not os.path.exists(sock):
                if agent.poll() is not None or time.time() > deadline:
                    sys.exit("sidelight did not open its NDJSON socket")
                time.sleep(0.05)
            blocks = o.lines // o.writers // 1000
            want = blocks * 1000 * o.writers
            c0, t0 = cpu_seconds(agent.pid), time.time()
            procs = [mp.Process(target=writer, args=(sock, blocks)) for _ in range(o.writers)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            got, last, seen = 0, time.time(), 0
            while got < want:
                got = items(port)
                if got > seen:
                    seen, last = got, time.time()
                elif time.time() - last > 60:
                    sys.exit(f"sidelight counted {got} of {want} lines; nothing new for 60 s")
                time.sleep(0.01)
            wall, cpu = time.time() - t0, cpu_seconds(agent.pid) - c0
            print(f"{o.writers} writer(s), threads {o.threads or 'default'}: {want} lines, "
                  f"{want / wall:.0f} lines/s, {want / cpu:.0f} lines/CPU-s")
        finally:
            agent.terminate()
            agent.wait()


if __name__ == "__main__":
    main()
