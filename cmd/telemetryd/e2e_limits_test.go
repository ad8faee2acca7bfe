package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// TestFetchQueriesAreBounded: a query that would read more rows than the server's
// limit is stopped by ClickHouse and answered 400, not left to run.
func TestFetchQueriesAreBounded(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.Fetch.MaxRowsToRead = 10 })
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if resp := postTraces(t, s.httpAddr.String(), token, tracesBody(t, 1, 50)); resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %d", resp.StatusCode)
	}
	waitForRows(t, s, "50 spans", "SELECT count() FROM spans", 50)
	now := time.Now()
	url := "http://" + s.httpAddr.String() + "/telemetry/fetch_spans?start_time=" + now.Add(-time.Hour).Format(time.RFC3339) +
		"&end_time=" + now.Add(time.Hour).Format(time.RFC3339)
	var body map[string]any
	if status := getJSONStatus(t, url, mintJWT(t, "acme"), &body); status != http.StatusBadRequest {
		t.Fatalf("a query reading 50 rows with a limit of 10: status %d %v, want 400", status, body)
	}
	if msg, _ := body["error"].(string); msg == "" {
		t.Error("no message saying what to do")
	}
}

// getJSONStatus is getJSON that also decodes error bodies.
func getJSONStatus(t *testing.T, rawURL, bearer string, out *map[string]any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = jsonDecode(resp, out)
	return resp.StatusCode
}

func jsonDecode(resp *http.Response, out any) error { return json.NewDecoder(resp.Body).Decode(out) }
