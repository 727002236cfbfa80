#!/usr/bin/env python3
"""Interop: the real Collector goes away while a watched service dies; when the Collector is
back, the service's down state arrives (the latest state per target is kept, not dropped).

    collector_outage_test.py path/to/sidelight
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from interop import fail, session, wait_point  # noqa: E402


def main():
    with session(sys.argv[1]) as s:
        collector = s.start_collector()
        sleeper = s.process(["sleep", "600"])
        agent = s.sidelight(f"""
heartbeat: {{ interval: 60s }}
targets:
  - name: outage-svc
    pid: {sleeper.pid}
exporters:
  otlp:
    endpoint: {collector.endpoint}
    retry: {{ initial_interval: 200ms, max_interval: 1s }}
""")
        logs = (agent.log, collector.log)

        def beat(value):
            return lambda p: (p["resource"].get("service.name") == "outage-svc" and
                              p["name"] == "service.heartbeat" and p["value"] == value)

        wait_point(collector, beat(1), "heartbeat=1 before the outage", 15, logs)
        collector.stop()
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
        # Let sidelight fail at least one export against the dead Collector.
        deadline = time.monotonic() + 10
        while "retrying" not in open(agent.log).read():
            if time.monotonic() > deadline:
                fail("sidelight did not log a failed export while the Collector was down")
            time.sleep(0.05)
        collector.start()
        wait_point(collector, beat(0), "heartbeat=0 delivered after the Collector came back", 15,
                   logs)
        if agent.stop() != 0:
            fail("sidelight did not exit 0 on SIGTERM")
        print("ok: the down state survived the Collector's outage")


if __name__ == "__main__":
    main()
