// The OpenTelemetry JS SDK (pinned in package.json) sending to a running
// `kobs all` over OTLP: traces with the protobuf, the JSON and the gRPC
// exporters, logs with the JSON exporter, metrics with the protobuf exporter.
// The rows are read back through kobs's ClickHouse-compatible endpoint and
// compared value for value with what the SDK sent; the seed's "slow traces"
// query finds the slow span.
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { Kobs, tempDir, waitFor, Checks } from './lib/kobs.mjs';

const t = new Checks('otlp_sdk');

async function sql(kobs, query) {
  const r = await fetch(kobs.chUrl + '/', { method: 'POST', body: query + ' FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers=0' });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${query}: ${r.status} ${text}`);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// Map columns compared whatever order their keys come in.
const sortedKeys = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

// The span's start and end as the SDK takes them (ms since the epoch), 1.5 s apart.
const START_MS = Date.UTC(2026, 0, 15, 10, 0, 0, 250);

async function sendTraces(exporter, service, name, durationMs) {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment.name': 'test' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('kobs-js-test', '1.0.0');
  const span = tracer.startSpan(name, {
    kind: SpanKind.SERVER,
    startTime: new Date(START_MS),
    attributes: { 'http.route': '/checkout', 'http.status_code': 503, retried: true, ratio: 0.5 },
  });
  span.addEvent('queue full', { depth: 7 }, new Date(START_MS + 100));
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream timeout' });
  const child = tracer.startSpan('child', { startTime: new Date(START_MS + 10) },
                                 trace.setSpan(context.active(), span));
  child.end(new Date(START_MS + 20));
  span.end(new Date(START_MS + durationMs));
  await provider.forceFlush();
  await provider.shutdown();
  return { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId, childId: child.spanContext().spanId };
}

async function checkSlowSpan(kobs, service, sent, durationMs, transport) {
  const rows = await waitFor(`${transport} spans of ${service}`, 20000, async () => {
    const r = await sql(kobs, `SELECT * FROM otel_traces WHERE ServiceName = '${service}' ORDER BY Timestamp`);
    return r.length === 2 ? r : null;
  });
  const [root, child] = rows;
  t.equal(root.TraceId, sent.traceId, `${transport}: TraceId is the SDK's, in hex`);
  t.equal(root.SpanId, sent.spanId, `${transport}: SpanId`);
  t.equal(root.ParentSpanId, '', `${transport}: root has no parent`);
  t.equal(child.ParentSpanId, sent.spanId, `${transport}: child's ParentSpanId`);
  t.equal(child.SpanId, sent.childId, `${transport}: child's SpanId`);
  t.equal(root.SpanName, 'slow-op', `${transport}: SpanName`);
  t.equal(root.SpanKind, 'SPAN_KIND_SERVER', `${transport}: SpanKind`);
  t.equal(child.SpanKind, 'SPAN_KIND_INTERNAL', `${transport}: child SpanKind`);
  t.equal(root.Duration, durationMs * 1e6, `${transport}: Duration in ns`);
  t.equal(root.Timestamp, '2026-01-15 10:00:00.250000000', `${transport}: Timestamp`);
  t.equal(root.StatusCode, 'STATUS_CODE_ERROR', `${transport}: StatusCode`);
  t.equal(root.StatusMessage, 'upstream timeout', `${transport}: StatusMessage`);
  t.equal(root.SpanAttributes, { 'http.route': '/checkout', 'http.status_code': '503', retried: 'true', ratio: '0.5' },
          `${transport}: SpanAttributes stringified`);
  t.equal(sortedKeys(root.ResourceAttributes), { 'deployment.environment.name': 'test', 'service.name': service },
          `${transport}: ResourceAttributes`);
  t.equal(root.ScopeName, 'kobs-js-test', `${transport}: ScopeName`);
  t.equal(root.ScopeVersion, '1.0.0', `${transport}: ScopeVersion`);
  t.equal(root['Events.Name'], ['queue full'], `${transport}: Events.Name`);
  t.equal(root['Events.Timestamp'], ['2026-01-15 10:00:00.350000000'], `${transport}: Events.Timestamp`);
  t.equal(root['Events.Attributes'], [{ depth: '7' }], `${transport}: Events.Attributes`);
  t.equal(root['Links.TraceId'], [], `${transport}: no links`);
}

async function main() {
  const kobs = new Kobs({ role: 'all', demo: false, dataDir: tempDir('otlp'), sets: ['k8s.events.enabled=false'] });
  try {
    await kobs.start();
    const ports = await waitFor('the OTLP listeners', 30000, () => {
      const h = kobs.stdout.match(/kobs OTLP\/HTTP on http:\/\/[^:]+:(\d+)/);
      const g = kobs.stdout.match(/kobs OTLP\/gRPC on [^:]+:(\d+)/);
      return h && g ? { http: Number(h[1]), grpc: Number(g[1]) } : null;
    });
    const base = `http://127.0.0.1:${ports.http}`;

    // Traces: protobuf, JSON, gRPC.
    const proto = await sendTraces(new ProtoTraceExporter({ url: `${base}/v1/traces` }), 'js-proto', 'slow-op', 1500);
    await checkSlowSpan(kobs, 'js-proto', proto, 1500, 'http/protobuf');
    const json = await sendTraces(new JsonTraceExporter({ url: `${base}/v1/traces` }), 'js-json', 'slow-op', 1500);
    await checkSlowSpan(kobs, 'js-json', json, 1500, 'http/json');
    const grpc = await sendTraces(new GrpcTraceExporter({ url: `http://127.0.0.1:${ports.grpc}`, compression: 'gzip' }),
                                  'js-grpc', 'slow-op', 1500);
    await checkSlowSpan(kobs, 'js-grpc', grpc, 1500, 'grpc (gzip)');

    // The seed's "slow traces" example query, for one of these services.
    const slow = await sql(kobs, `SELECT TraceId, SpanName, Duration/1e6 AS duration_ms
FROM otel_traces
WHERE ServiceName = 'js-proto' AND Duration > 1000000000
ORDER BY Timestamp DESC LIMIT 20`);
    t.equal(slow, [{ TraceId: proto.traceId, SpanName: 'slow-op', duration_ms: 1500 }], 'seed "slow traces" query returns the slow span');

    // Logs: JSON exporter.
    const lp = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'js-logs' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${base}/v1/logs` }) })],
    });
    const logger = lp.getLogger('kobs-js-logger', '2.0.0');
    logger.emit({ body: 'card declined', severityNumber: 17, severityText: 'ERROR', timestamp: new Date(START_MS),
                  attributes: { 'order.id': 'o-1', amount: 12.5 } });
    logger.emit({ body: { reason: 'limit', code: 51 }, severityNumber: 13, severityText: 'WARN', timestamp: new Date(START_MS + 1) });
    await lp.forceFlush();
    await lp.shutdown();
    const logs = await waitFor('log rows', 20000, async () => {
      const r = await sql(kobs, "SELECT * FROM otel_logs WHERE ServiceName = 'js-logs' ORDER BY Timestamp");
      return r.length === 2 ? r : null;
    });
    t.equal(logs[0].Body, 'card declined', 'logs: string Body');
    t.equal(logs[0].SeverityText, 'ERROR', 'logs: SeverityText');
    t.equal(logs[0].SeverityNumber, 17, 'logs: SeverityNumber');
    t.equal(logs[0].Timestamp, '2026-01-15 10:00:00.250000000', 'logs: Timestamp');
    t.equal(logs[0].LogAttributes, { 'order.id': 'o-1', amount: '12.5' }, 'logs: LogAttributes');
    t.equal(logs[0].ScopeName, 'kobs-js-logger', 'logs: ScopeName');
    t.equal(logs[0].TraceId, '', 'logs: no trace context, TraceId ""');
    t.equal(logs[1].Body, '{"code":51,"reason":"limit"}', 'logs: map Body as JSON with sorted keys');
    t.equal(logs[1].SeverityNumber, 13, 'logs: WARN');

    // Metrics: protobuf exporter, cumulative.
    const exporter = new OTLPMetricExporter({ url: `${base}/v1/metrics` });
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
    const mp = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'js-metrics' }), readers: [reader] });
    const meter = mp.getMeter('kobs-js-meter', '3.0.0');
    const counter = meter.createCounter('orders', { description: 'orders placed', unit: '{order}' });
    counter.add(2, { shop: 'a' });
    counter.add(1, { shop: 'a' });
    const hist = meter.createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
    hist.record(5);
    hist.record(50);
    hist.record(500);
    const gauge = meter.createGauge('temperature');
    gauge.record(21.5, { room: 'lab' });
    await mp.forceFlush();
    await mp.shutdown();
    const sums = await waitFor('sum rows', 20000, async () => {
      const r = await sql(kobs, "SELECT * FROM otel_metrics_sum WHERE ServiceName = 'js-metrics'");
      return r.length >= 1 ? r : null;
    });
    t.equal(sums[0].MetricName, 'orders', 'metrics: sum MetricName');
    t.equal(sums[0].MetricDescription, 'orders placed', 'metrics: MetricDescription');
    t.equal(sums[0].MetricUnit, '{order}', 'metrics: MetricUnit');
    t.equal(sums[0].Value, 3, 'metrics: sum Value');
    t.equal(sums[0].IsMonotonic, true, 'metrics: IsMonotonic');
    t.equal(sums[0].AggregationTemporality, 2, 'metrics: cumulative');
    t.equal(sums[0].Attributes, { shop: 'a' }, 'metrics: Attributes');
    t.equal(sums[0].ScopeName, 'kobs-js-meter', 'metrics: ScopeName');
    const hists = await waitFor('histogram rows', 20000, async () => {
      const r = await sql(kobs, "SELECT * FROM otel_metrics_histogram WHERE ServiceName = 'js-metrics'");
      return r.length >= 1 ? r : null;
    });
    t.equal([hists[0].Count, hists[0].Sum, hists[0].BucketCounts, hists[0].ExplicitBounds, hists[0].Min, hists[0].Max],
            [3, 555, [1, 1, 1], [10, 100], 5, 500], 'metrics: histogram Count, Sum, buckets, bounds, Min, Max');
    const gauges = await waitFor('gauge rows', 20000, async () => {
      const r = await sql(kobs, "SELECT * FROM otel_metrics_gauge WHERE ServiceName = 'js-metrics'");
      return r.length >= 1 ? r : null;
    });
    t.equal([gauges[0].MetricName, gauges[0].Value, gauges[0].Attributes], ['temperature', 21.5, { room: 'lab' }], 'metrics: gauge');

    // The counters saw it all, and nothing was refused.
    const m = await (await fetch(kobs.url + '/metrics')).text();
    t.ok(/kobs_otlp_records_accepted_total\{signal="traces"\} 6\b/.test(m), 'metrics: 6 spans accepted');
    t.ok(/kobs_otlp_requests_total\{signal="traces",transport="grpc",outcome="accepted"\} [1-9]/.test(m), 'metrics: gRPC requests counted');
    t.ok(!/outcome="malformed"\} [1-9]/.test(m), 'metrics: nothing malformed');
  } finally {
    const e = await kobs.stop();
    t.equal(e && e.code, 0, 'kobs exits cleanly');
    t.done();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
