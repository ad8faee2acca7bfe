package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
)

// TestFetchQueryMemoryLimit: fetch queries run with max_memory_usage; against the real
// ClickHouse a query past it is stopped there and answered 400 saying so, where
// without the setting the same query succeeds.
func TestFetchQueryMemoryLimit(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.Fetch.MaxMemoryUsage = 1 << 20 })
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	// Rows whose attribute values are large, filtered on that attribute, so that every
	// block the query reads holds megabytes: current servers account small allocations
	// only per 4 MiB (max_untracked_memory) and read lazily what only the answer needs.
	padding := strings.Repeat("p", 4096)
	const requests, perRequest = 4, 1000
	for i := 0; i < requests; i++ {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "memory")
		ss := rs.ScopeSpans().AppendEmpty()
		now := time.Now()
		for j := 0; j < perRequest; j++ {
			sp := ss.Spans().AppendEmpty()
			sp.SetName("op")
			sp.SetTraceID([16]byte{byte(i), byte(j >> 8), byte(j), 2})
			sp.SetSpanID([8]byte{byte(i), byte(j >> 8), byte(j), 2})
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			sp.Attributes().PutStr("padding", padding)
			sp.Attributes().PutStr("group", "m")
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		if resp := postTraces(t, s.httpAddr.String(), token, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("ingest: status %d", resp.StatusCode)
		}
	}
	waitForRows(t, s, "the spans", "SELECT count() FROM spans WHERE tenant_id = 'acme'", requests*perRequest)
	window := url.Values{
		"start_time": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)},
		"end_time":   {strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)},
	}
	window.Set("limit", "1000")
	window.Set("attr.group", "m") // read from the attribute arrays, which hold the padding
	status, body := fsRaw(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_spans?"+window.Encode(), mintJWT(t, "acme"))
	if status != http.StatusBadRequest || !strings.Contains(body, "memory") {
		t.Fatalf("fetch_spans with max_memory_usage of 1 MiB: status %d %.300s, want 400 naming memory", status, body)
	}
}
