#!/usr/bin/env python3
"""The app of the pod test: serves HTTP on 8080 (the port sidelight watches it by) and, on each
SIGUSR1, sends one span through the OpenTelemetry Python SDK. The SDK is configured only by the
environment the shipped manifest gives the app container: OTEL_EXPORTER_OTLP_ENDPOINT (sidelight's
Unix socket) and OTEL_EXPORTER_OTLP_INSECURE."""
import http.server
import signal
import sys
import threading

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def send_span(n):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    with provider.get_tracer("sidelight-pod-test").start_as_current_span("pod-test-span") as span:
        span.set_attribute("n", n)
    provider.shutdown()
    print(f"app: sent span {n}", flush=True)


def main():
    signals = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # before any thread starts
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 8080), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("app: listening on 8080", flush=True)
    n = 0
    while True:
        sig = signal.sigwait(signals)
        if sig != signal.SIGUSR1:
            sys.exit(0)
        n += 1
        send_span(n)


if __name__ == "__main__":
    main()
