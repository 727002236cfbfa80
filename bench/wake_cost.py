#!/usr/bin/env python3
"""What waking up costs on this machine, to read the heartbeat bench's idle figure against.

sidelight at rest wakes at each heartbeat to read every watched process's /proc/PID/stat and
count its descriptors, and gRPC's timer threads wake a few times a second. The CPU time of such
a wake-up depends on the machine as much as on the code: caches, TLBs and the kernel's own
structures go cold while a process sleeps. This script does the same /proc work for N processes
several times in a row (hot), then again after sleeping (cold), and prints both, so that the
idle figure can be compared across days and machines.

    python3 bench/wake_cost.py [--processes 100] [--sleep 12] [--rounds 3]
"""
import argparse
import os
import time


def read_all(pids):
    start = time.process_time()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                f.read()
            os.stat(f"/proc/{pid}/fd")
        except OSError:
            pass
    return (time.process_time() - start) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=100)
    ap.add_argument("--sleep", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[: args.processes]
    cold, hot = [], []
    for r in range(args.rounds):
        time.sleep(args.sleep)
        cold.append(read_all(pids))
        hot.append(min(read_all(pids) for _ in range(5)))
    print(f"/proc/PID/stat and /proc/PID/fd of {len(pids)} processes, CPU ms: "
          f"after {args.sleep:g} s asleep {' '.join(f'{c:.1f}' for c in cold)}; "
          f"hot {' '.join(f'{h:.1f}' for h in hot)}; "
          f"ratio (medians) {sorted(cold)[len(cold) // 2] / sorted(hot)[len(hot) // 2]:.1f}x")


if __name__ == "__main__":
    main()
