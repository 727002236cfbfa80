#!/usr/bin/env python3
"""An application using the OpenTelemetry Python SDK, exporting to sidelight.

    sdk_client.py --protocol grpc|http --endpoint ENDPOINT --spans N --logs N --ids FILE

Sends N spans (one trace each, attribute i) and N log records (through Python logging), then
writes the ids of what it sent to FILE as JSON: {"spans": [[trace_id, span_id], ...]}.
"""
import argparse
import json
import logging

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--spans", type=int, default=0)
    ap.add_argument("--logs", type=int, default=0)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--service", help="service.name (default emp-py-PROTOCOL)")
    args = ap.parse_args()

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        spans = OTLPSpanExporter(endpoint=args.endpoint, insecure=True)
        logs = OTLPLogExporter(endpoint=args.endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        spans = OTLPSpanExporter(endpoint=args.endpoint + "/v1/traces")
        logs = OTLPLogExporter(endpoint=args.endpoint + "/v1/logs")

    resource = Resource.create({"service.name": args.service or f"emp-py-{args.protocol}"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(spans, max_export_batch_size=512))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(logs))
    log = logging.getLogger("sdk_client")
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(logger_provider=lp))

    tracer = tp.get_tracer("sdk_client")
    sent = []
    for i in range(args.spans):
        with tracer.start_as_current_span(f"work-{i}") as span:
            span.set_attribute("i", i)
            ctx = span.get_span_context()
            sent.append([f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"])
    for i in range(args.logs):
        log.warning("sdk log %d", i, extra={"n": i})
    ok = tp.force_flush(30000) and lp.force_flush(30000)
    tp.shutdown()
    lp.shutdown()
    with open(args.ids, "w") as f:
        json.dump({"spans": sent}, f)
    if not ok:
        raise SystemExit("force_flush failed")


if __name__ == "__main__":
    main()
