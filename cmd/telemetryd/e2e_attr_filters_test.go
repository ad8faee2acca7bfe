package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// TestAttributeFiltersAgree holds every list endpoint to one meaning of attr.<key>=<value>
// (docs/api.md): a row matches a key when any of its values for that key, on the row or
// its resource, is one of the values given for the key (OR within a repeated key), and it
// must match every key given (AND across keys). One row carries the key "k" twice, which
// OTLP forbids but the receiver keeps as sent: either of its values matches.
func TestAttributeFiltersAgree(t *testing.T) {
	s := startTestServer(t)
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Hour).UTC()
	twice := fsAttrs("k", "a", "k", "b", "env", "prod") // row "twice"
	once := fsAttrs("k", "c", "env", "dev")             // row "once"
	res := fsResource("attr-svc", "1")
	span := func(id, name string, at time.Time, attrs string) string {
		return fmt.Sprintf(`{"traceId":"%032s","spanId":"%016s","name":%q,"startTimeUnixNano":%s,"endTimeUnixNano":%s,"attributes":%s}`,
			id, id, name, fsNanos(at), fsNanos(at.Add(time.Millisecond)), attrs)
	}
	fsPost(t, s, "/v1/traces", token, `{"resourceSpans":[{"resource":`+res+`,"scopeSpans":[{"spans":[`+
		span("1", "twice", t0.Add(time.Second), twice)+","+span("2", "once", t0.Add(2*time.Second), once)+`]}]}]}`)
	fsPost(t, s, "/v1/logs", token, fsLogs(res,
		fsLog(t0.Add(time.Second), 9, "INFO", "twice", "", "", twice), fsLog(t0.Add(2*time.Second), 9, "INFO", "once", "", "", once)))
	fsPost(t, s, "/v1/metrics", token, fsMetrics(res,
		fsGauge("twice", fsPoint(t0.Add(time.Second), 1, twice)), fsGauge("once", fsPoint(t0.Add(2*time.Second), 2, once))))
	waitForRows(t, s, "the spans", "SELECT count() FROM spans", 2)
	waitForRows(t, s, "the logs", "SELECT count() FROM logs", 2)
	waitForRows(t, s, "the metric points", "SELECT count() FROM metric_points", 2)

	// names lists the matching rows by the name each endpoint shows.
	names := map[string]func(t *testing.T, query string) string{
		"fetch_spans": func(t *testing.T, query string) string {
			var p struct{ Spans []struct{ Name string } }
			// By name descending: "twice" before "once", as the other endpoints order them.
			fsGet(t, s, t0, "acme", "/telemetry/fetch_spans", query+"&sort=name&sortDirection=desc", &p)
			var out []string
			for _, x := range p.Spans {
				out = append(out, x.Name)
			}
			return strings.Join(out, ",")
		},
		"fetch_traces": func(t *testing.T, query string) string {
			var p struct {
				Traces []struct {
					OperationName string `json:"operation_name"`
				}
			}
			fsGet(t, s, t0, "acme", "/telemetry/fetch_traces", query+"&sort=start_time&sortDirection=asc", &p)
			var out []string
			for _, x := range p.Traces {
				out = append(out, x.OperationName)
			}
			return strings.Join(out, ",")
		},
		"fetch_logs": func(t *testing.T, query string) string {
			var p struct{ Logs []struct{ Body string } }
			fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", query, &p)
			var out []string
			for i := len(p.Logs) - 1; i >= 0; i-- { // newest first: reverse to oldest first
				out = append(out, p.Logs[i].Body)
			}
			return strings.Join(out, ",")
		},
		"fetch_metrics": func(t *testing.T, query string) string {
			var p struct {
				Metrics []struct {
					MetricName string `json:"metric_name"`
				}
			}
			fsGet(t, s, t0, "acme", "/telemetry/fetch_metrics", query, &p)
			var out []string
			for i := len(p.Metrics) - 1; i >= 0; i-- {
				out = append(out, p.Metrics[i].MetricName)
			}
			return strings.Join(out, ",")
		},
	}
	tests := []struct{ query, want string }{
		{"attr.k=a", "twice"},
		{"attr.k=b", "twice"}, // the second value of a repeated key matches too
		{"attr.k=c", "once"},
		{"attr.k=a&attr.k=c", "twice,once"}, // OR within a key
		{"attr.k=b&attr.k=z", "twice"},
		{"attr.k=a&attr.k=b", "twice"},
		{"attr.k=a&attr.k=c&attr.env=dev", "once"}, // AND across keys
		{"attr.k=a&attr.env=dev", ""},
		{"attr.k=c&attr.service.name=attr-svc", "once"}, // a resource attribute
		{"attr.k=z", ""},
	}
	for endpoint, get := range names {
		for _, tt := range tests {
			if got := get(t, tt.query); got != tt.want {
				t.Errorf("%s?%s: %q, want %q", endpoint, tt.query, got, tt.want)
			}
		}
	}
	if status := fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", strings.Repeat("attr.k=x&", 21), nil); status != http.StatusBadRequest {
		t.Errorf("21 attribute values: status %d, want 400 (at most 20)", status)
	}
}
