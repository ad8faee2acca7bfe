// Recorded the fixture otel-js-traces.json with @opentelemetry/otlp-transformer 0.223.1 (JsonTraceSerializer, what the JS OTLP/HTTP JSON exporter posts):
//   npm install @opentelemetry/sdk-trace-base @opentelemetry/otlp-transformer @opentelemetry/resources @opentelemetry/api && node record-otel-js.js > otel-js-traces.json
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { JsonTraceSerializer, JsonLogsSerializer } = require('@opentelemetry/otlp-transformer');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const api = require('@opentelemetry/api');
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'weather-mcp-js', 'service.version': '0.3.1', 'mcp.session.id': 'sess-1' }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('@shinzolabs/instrumentation-mcp', '1.2.0');
const start = [1763892000, 0];
tracer.startActiveSpan('tools/call get_weather', { kind: api.SpanKind.SERVER, startTime: start,
  attributes: { 'mcp.tool.name': 'get_weather', 'mcp.method.name': 'tools/call', 'mcp.request.id': 7, 'cached': false, 'latency.ratio': 0.5 } }, (root) => {
  const child = tracer.startSpan('http GET api.weather', { kind: api.SpanKind.CLIENT, startTime: [1763892000, 10000000] }, api.trace.setSpan(api.context.active(), root));
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'upstream 502' });
  child.addEvent('retry', { attempt: 1 }, [1763892000, 20000000]);
  child.end([1763892000, 250000000]);
  root.end([1763892000, 300000000]);
});
const spans = exporter.getFinishedSpans();
process.stdout.write(Buffer.from(JsonTraceSerializer.serializeRequest(spans)).toString());
