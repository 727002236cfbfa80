// An application using the OpenTelemetry JavaScript SDK from npm. It exports to the endpoint in
// OTEL_EXPORTER_OTLP_ENDPOINT (unix:///path/to/otlp.sock; with OTEL_EXPORTER_OTLP_INSECURE=true,
// as the README tells users), sends N spans, and prints their ids as JSON.
//
//   node client.js N
'use strict';
const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { resourceFromAttributes } = require('@opentelemetry/resources');

async function main() {
  const count = Number(process.argv[2] || '10');
  const exporter = new OTLPTraceExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'emp-js' }),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxExportBatchSize: 200 })],
  });
  const tracer = provider.getTracer('client.js');
  const sent = [];
  for (let i = 0; i < count; i++) {
    const span = tracer.startSpan(`js-work-${i}`, { attributes: { i } });
    const ctx = span.spanContext();
    sent.push([ctx.traceId, ctx.spanId]);
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify({ spans: sent }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
