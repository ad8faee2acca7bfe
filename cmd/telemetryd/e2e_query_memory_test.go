package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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
	// Enough rows that reading them takes more than 1 MiB on every server: current ones
	// account small allocations only per 4 MiB (max_untracked_memory).
	const requests, perRequest = 20, 1000
	for i := 0; i < requests; i++ {
		if resp := postTraces(t, s.httpAddr.String(), token, tracesBody(t, 7+i, perRequest)); resp.StatusCode != http.StatusOK {
			t.Fatalf("ingest: status %d", resp.StatusCode)
		}
	}
	waitForRows(t, s, "the spans", "SELECT count() FROM spans WHERE tenant_id = 'acme'", requests*perRequest)
	window := url.Values{
		"start_time": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)},
		"end_time":   {strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)},
	}
	window.Set("limit", "1000")
	status, body := fsRaw(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_spans?"+window.Encode(), mintJWT(t, "acme"))
	if status != http.StatusBadRequest || !strings.Contains(body, "memory") {
		t.Fatalf("fetch_spans with max_memory_usage of 1 MiB: status %d %.300s, want 400 naming memory", status, body)
	}
}
