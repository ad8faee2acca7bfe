package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

// lcSpan is one span of the comparison data, as OTLP JSON.
func lcSpan(trace, span, parent, name string, kind, status int, start time.Time, dur time.Duration, attrs string) string {
	return fmt.Sprintf(`{"traceId":%q,"spanId":%q,"parentSpanId":%q,"name":%q,"kind":%d,"startTimeUnixNano":%s,"endTimeUnixNano":%s,`+
		`"attributes":%s,"status":{"code":%d},"events":[{"timeUnixNano":%s,"name":"checkpoint","attributes":%s}]}`,
		trace, span, parent, name, kind, fsNanos(start), fsNanos(start.Add(dur)), attrs, status, fsNanos(start.Add(dur/2)), fsAttrs("step", name))
}

func lcTraces(resource string, spans ...string) string {
	return `{"resourceSpans":[{"resource":` + resource + `,"scopeSpans":[{"scope":{"name":"mcp","version":"1.0"},"spans":[` + strings.Join(spans, ",") + `]}]}]}`
}

// seedLayoutData stores the same spans, logs and metrics of tenants acme and globex,
// with times from t0, on the server s.
func seedLayoutData(t *testing.T, s *server, t0 time.Time) {
	t.Helper()
	ctx := context.Background()
	_, acme, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, globex, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	weather, billing := fsResource("weather-mcp", "1.2.3"), fsResource("billing", "2.0")
	var spans []string
	for i := 0; i < 12; i++ {
		trace := fmt.Sprintf("%032x", 0xabc000+i)
		tool := []string{"get_weather", "get_time", "get_forecast"}[i%3]
		spans = append(spans,
			lcSpan(trace, fmt.Sprintf("%016x", 0x100+i), "", "tools/call", 2, []int{0, 1, 2}[i%3], at(i*20), time.Duration(10+i*7)*time.Millisecond,
				fsAttrs("mcp.tool.name", tool, "mcp.session.id", fmt.Sprintf("s%d", i%4))),
			lcSpan(trace, fmt.Sprintf("%016x", 0x200+i), fmt.Sprintf("%016x", 0x100+i), "http GET", 3, 0, at(i*20+1), time.Duration(5+i)*time.Millisecond,
				fsAttrs("http.method", "GET")))
	}
	fsPost(t, s, "/v1/traces", acme, lcTraces(weather, spans[:16]...))
	fsPost(t, s, "/v1/traces", acme, lcTraces(billing, spans[16:]...))
	fsPost(t, s, "/v1/traces", globex, lcTraces(fsResource("globex-svc", "9"),
		lcSpan(fsTraceID, fsSpanID, "", "tools/call", 2, 2, at(5), 50*time.Millisecond, fsAttrs("mcp.tool.name", "get_weather"))))

	fsPost(t, s, "/v1/logs", acme, fsLogs(weather,
		fsLog(at(10), 17, "ERROR", "Upstream weather API failed", fmt.Sprintf("%032x", 0xabc000), "", fsAttrs("tool", "get_weather")),
		fsLog(at(20), 9, "INFO", "tool call ok", "", "", fsAttrs("tool", "get_time", "mode", "get_weather")),
		fsLog(at(25), 9, "INFO", "Grüße aus Köln: ÜBER", "", "", fsAttrs("tool", "get_time")),
		fsLog(at(26), 9, "INFO", `100% done_ok in C:\\tmp`, "", "", fsAttrs("tool", "get_time"))))
	fsPost(t, s, "/v1/logs", acme, fsLogs(billing, fsLog(at(30), 13, "", "slow response", "", "", fsAttrs("tool", "get_weather"))))
	fsPost(t, s, "/v1/logs", globex, fsLogs(fsResource("globex-svc", "9"), fsLog(at(15), 17, "ERROR", "Upstream globex secret", fsTraceID, "", "[]")))

	hist := func(ts time.Time) string {
		return fmt.Sprintf(`{"timeUnixNano":%s,"count":"2","sum":150,"min":20,"max":80,"bucketCounts":["0","1","1","0"],"explicitBounds":[10,50,100]}`, fsNanos(ts))
	}
	fsPost(t, s, "/v1/metrics", acme, fsMetrics(weather,
		fsGauge("temp", fsPoint(at(0), 10, fsAttrs("host", "a")), fsPoint(at(30), 20, fsAttrs("host", "a")), fsPoint(at(60), 30, fsAttrs("host", "b"))),
		fmt.Sprintf(`{"name":"calls","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"timeUnixNano":%s,"asInt":"6"},{"timeUnixNano":%s,"asInt":"12"}]}}`, fsNanos(at(0)), fsNanos(at(70))),
		`{"name":"latency","unit":"ms","histogram":{"aggregationTemporality":1,"dataPoints":[`+hist(at(5))+`,`+hist(at(20))+`]}}`))
	fsPost(t, s, "/v1/metrics", acme, fsMetrics(billing, fsGauge("temp", fsPoint(at(10), 100, fsAttrs("host", "b")))))

	waitForRows(t, s, "the spans", "SELECT count() FROM spans", 25)
	waitForRows(t, s, "the logs", "SELECT count() FROM logs", 6)
	waitForRows(t, s, "the metric points", "SELECT count() FROM metric_points", 8)
}

// layoutQueries are the fetch requests compared: every route, with the filters, sorts
// and pages whose SQL touches what differs between the layouts.
var layoutQueries = []struct{ tenant, path, extra string }{
	{"acme", "/telemetry/fetch_traces", ""},
	{"acme", "/telemetry/fetch_traces", "service_name=billing"},
	{"acme", "/telemetry/fetch_traces", "status=error&sort=duration&sortDirection=asc"},
	{"acme", "/telemetry/fetch_traces", "attr.mcp.tool.name=get_weather&limit=2&offset=1"},
	{"acme", "/telemetry/fetch_traces", "trace_id=" + fmt.Sprintf("%032x", 0xabc003)},
	{"acme", "/telemetry/fetch_spans", ""},
	{"acme", "/telemetry/fetch_spans", "service_name=weather-mcp&attr.mcp.tool.name=get_time"},
	{"acme", "/telemetry/fetch_spans", "name=http%20GET&min_duration_ms=10&sort=duration"},
	{"acme", "/telemetry/fetch_spans", "name_contains=tools&limit=3&offset=2&sortDirection=asc"},
	{"acme", "/telemetry/fetch_spans", "trace_id=" + fmt.Sprintf("%032x", 0xabc005)},
	{"acme", "/telemetry/traces/" + fmt.Sprintf("%032x", 0xabc007), ""},
	{"acme", "/telemetry/traces/" + fsTraceID, ""}, // globex's: not found for acme
	{"globex", "/telemetry/traces/" + fsTraceID, ""},
	{"acme", "/telemetry/fetch_logs", ""},
	{"acme", "/telemetry/fetch_logs", "body_contains=UPSTREAM"},
	{"acme", "/telemetry/fetch_logs", "search=grüsse"},
	{"acme", "/telemetry/fetch_logs", "search=%C3%BCber"},
	{"acme", "/telemetry/fetch_logs", "search=%25"},
	{"acme", "/telemetry/fetch_logs", "search=0%25%20DONE_OK"},
	{"acme", "/telemetry/fetch_logs", "search=e_o"},
	{"acme", "/telemetry/fetch_logs", "search=C:%5Ctmp"},
	{"acme", "/telemetry/fetch_logs", "body_contains=API%20FAILED&search=upstream"},
	{"acme", "/telemetry/fetch_logs", "min_severity=warn&service_name=billing"},
	{"acme", "/telemetry/fetch_logs", "trace_id=" + fmt.Sprintf("%032x", 0xabc000)},
	{"globex", "/telemetry/fetch_logs", ""},
	{"acme", "/telemetry/fetch_metrics", ""},
	{"acme", "/telemetry/fetch_metrics", "metric_name=temp&service_name=weather-mcp"},
	{"acme", "/telemetry/fetch_metrics", "metric_name=temp&step=1m&agg=avg&group_by=attr.host"},
	{"acme", "/telemetry/fetch_metrics", "metric_name=temp&step=1m&agg=max&group_by=service_name"},
	{"acme", "/telemetry/fetch_metrics", "metric_name=latency&type=histogram"},
	{"acme", "/telemetry/fetch_resources", ""},
	{"acme", "/telemetry/fetch_tools", ""},
	{"acme", "/telemetry/fetch_sessions", ""},
}

// TestFetchAnswersTheSameOnBothLayouts stores the same data through telemetryd on
// ClickHouse 18.16 (legacy layout) and on a current ClickHouse (current layout) and
// compares the fetch API's answers byte for byte.
func TestFetchAnswersTheSameOnBothLayouts(t *testing.T) {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UTC()
	servers := map[schema.Layout]string{
		schema.LayoutLegacy:  testenv.LegacyClickHouseAddr(t),
		schema.LayoutCurrent: testenv.CurrentClickHouseAddr(t),
	}
	answers := map[schema.Layout][]string{}
	for layout, addr := range servers {
		s := startTestServerWith(t, func(c *serveConfig) { c.ClickHouseDSN = testenv.ClickHouseDSNOn(t, addr) })
		opts, err := schema.Options(s.cfg.ClickHouseDSN)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := schema.DatabaseLayout(context.Background(), s.ch, opts.Auth.Database); err != nil || got != layout {
			t.Fatalf("the database on %s has the layout %s, %v; want %s", addr, got, err, layout)
		}
		seedLayoutData(t, s, t0)
		for _, q := range layoutQueries {
			u := fmt.Sprintf("http://%s%s?start_time=%d&end_time=%d&%s", s.httpAddr, q.path,
				t0.Add(-time.Minute).UnixMilli(), t0.Add(10*time.Minute).UnixMilli(), q.extra)
			status, body := fsRaw(t, u, mintJWT(t, q.tenant))
			if status != http.StatusOK && status != http.StatusNotFound {
				t.Errorf("%s: %s?%s as %s: status %d %s", layout, q.path, q.extra, q.tenant, status, body)
			}
			answers[layout] = append(answers[layout], fmt.Sprintf("%d %s", status, body))
		}
	}
	for i, q := range layoutQueries {
		legacy, current := answers[schema.LayoutLegacy][i], answers[schema.LayoutCurrent][i]
		if legacy != current {
			t.Errorf("%s?%s as %s answers differently:\nlegacy:  %s\ncurrent: %s", q.path, q.extra, q.tenant, legacy, current)
		}
	}
	for i, want := range map[int]string{0: "abc00b", 14: "Upstream weather API failed"} {
		if !strings.Contains(answers[schema.LayoutCurrent][i], want) {
			t.Errorf("%s?%s lacks %q: %s", layoutQueries[i].path, layoutQueries[i].extra, want, answers[schema.LayoutCurrent][i])
		}
	}
}
