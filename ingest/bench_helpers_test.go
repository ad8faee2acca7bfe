package ingest

import (
	"bytes"
	"compress/gzip"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// ptraceRequest is a realistic MCP-server request: one resource, n tool-call spans.
func ptraceRequest(n int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "weather-mcp")
	rs.Resource().Attributes().PutStr("service.version", "1.4.2")
	rs.Resource().Attributes().PutStr("mcp.session.id", "0f8fad5b-d9cb-469f-a165-70867728950e")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("@shinzolabs/instrumentation-mcp")
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("tools/call get_weather")
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(i >> 8), byte(i)})
		s.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, byte(i >> 8), byte(i)})
		s.SetStartTimestamp(1763892000000000000)
		s.SetEndTimestamp(1763892000000000000 + 42e6)
		s.Attributes().PutStr("mcp.tool.name", "get_weather")
		s.Attributes().PutStr("mcp.method.name", "tools/call")
		s.Attributes().PutInt("mcp.request.id", int64(i))
		s.Attributes().PutStr("city", fmt.Sprint("city-", i%50))
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
