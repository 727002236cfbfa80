#!/usr/bin/env python3
"""Many OTLP/gRPC connections each sending large messages at once, to see what intake holds.

Each connection (a channel of its own) sends CALLS messages of SIZE random bytes at once to
TraceService/Export over unix:SOCKET; the answers are counted by status. Garbage, so that
nothing is queued: the agent's peak RSS (VmHWM) is then what gRPC held. Needs grpcio (the interop
virtualenv has it).

    python3 bench/grpc_flood.py SOCKET [--connections 256] [--calls 4] [--size 4000000]
"""
import argparse
import os
import threading
import time

import grpc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("socket")
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--size", type=int, default=4_000_000)
    args = ap.parse_args()
    payload = os.urandom(args.size)
    answers, lock = {}, threading.Lock()

    def connection(i):
        channel = grpc.insecure_channel(
            "unix:" + args.socket,
            options=[("grpc.use_local_subchannel_pool", 1),
                     ("grpc.max_send_message_length", -1), ("flood.connection", i)])
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        for call in [export.future(payload, timeout=60) for _ in range(args.calls)]:
            try:
                call.result()
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            with lock:
                answers[code] = answers.get(code, 0) + 1
        channel.close()

    start = time.monotonic()
    threads = [threading.Thread(target=connection, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{args.connections} connections x {args.calls} calls of {args.size} bytes in "
          f"{time.monotonic() - start:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(answers.items())))


if __name__ == "__main__":
    main()
