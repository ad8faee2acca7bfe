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
	if resp := postTraces(t, s.httpAddr.String(), token, tracesBody(t, 7, 200)); resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: status %d", resp.StatusCode)
	}
	waitForRows(t, s, "the 200 spans", "SELECT count() FROM spans WHERE tenant_id = 'acme'", 200)
	window := url.Values{
		"start_time": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)},
		"end_time":   {strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)},
	}
	status, body := fsRaw(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_traces?"+window.Encode(), mintJWT(t, "acme"))
	if status != http.StatusBadRequest || !strings.Contains(body, "memory") {
		t.Fatalf("fetch_traces with max_memory_usage of 1 MiB: status %d %.300s, want 400 naming memory", status, body)
	}
}
