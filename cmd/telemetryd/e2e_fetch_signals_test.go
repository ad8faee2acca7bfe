package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
)

// Known data, posted as OTLP JSON so that times and histogram buckets are exact.
// t0 is aligned to the hour, so every step's buckets start at t0.
const (
	fsTraceID = "5b8efff798038103d269b633813fc60c"
	fsSpanID  = "eee19b7ec3c1b174"
)

func fsResource(service, version string) string {
	return fmt.Sprintf(`{"attributes":[{"key":"service.name","value":{"stringValue":%q}},`+
		`{"key":"service.version","value":{"stringValue":%q}},{"key":"host.name","value":{"stringValue":"h1"}}]}`, service, version)
}

func fsAttrs(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, fmt.Sprintf(`{"key":%q,"value":{"stringValue":%q}}`, kv[i], kv[i+1]))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func fsNanos(t time.Time) string { return fmt.Sprintf("%q", itoa(t.UnixNano())) }

func fsLog(ts time.Time, sev int, text, body, traceID, spanID, attrs string) string {
	return fmt.Sprintf(`{"timeUnixNano":%s,"observedTimeUnixNano":%s,"severityNumber":%d,"severityText":%q,"body":{"stringValue":%q},"traceId":%q,"spanId":%q,"attributes":%s}`,
		fsNanos(ts), fsNanos(ts.Add(time.Second)), sev, text, body, traceID, spanID, attrs)
}

func fsLogs(resource string, records ...string) string {
	return `{"resourceLogs":[{"resource":` + resource + `,"scopeLogs":[{"scope":{"name":"mcp"},"logRecords":[` + strings.Join(records, ",") + `]}]}]}`
}

func fsMetrics(resource string, metrics ...string) string {
	return `{"resourceMetrics":[{"resource":` + resource + `,"scopeMetrics":[{"scope":{"name":"mcp"},"metrics":[` + strings.Join(metrics, ",") + `]}]}]}`
}

func fsGauge(name string, points ...string) string {
	return fmt.Sprintf(`{"name":%q,"gauge":{"dataPoints":[%s]}}`, name, strings.Join(points, ","))
}

func fsPoint(ts time.Time, v float64, attrs string) string {
	return fmt.Sprintf(`{"timeUnixNano":%s,"asDouble":%v,"attributes":%s}`, fsNanos(ts), v, attrs)
}

func fsPost(t *testing.T, s *server, path, token, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr.String()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, answer)
	}
}

// seedSignals stores logs and metrics of tenants acme and globex and returns t0.
func seedSignals(t *testing.T, s *server) time.Time {
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
	t0 := time.Now().Add(-time.Hour).Truncate(time.Hour).UTC()
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	weather, billing := fsResource("weather-mcp", "1.2.3"), fsResource("billing", "2.0")

	fsPost(t, s, "/v1/logs", acme, fsLogs(weather,
		fsLog(at(10), 17, "ERROR", "Upstream weather API failed", fsTraceID, fsSpanID, fsAttrs("tool", "get_weather")),
		// mode's value is another key's value: an attribute filter must match key and value together.
		fsLog(at(20), 9, "INFO", "tool call ok", "", "", fsAttrs("tool", "get_time", "mode", "get_weather"))))
	fsPost(t, s, "/v1/logs", acme, fsLogs(billing, fsLog(at(30), 13, "", "slow response", "", "", fsAttrs("tool", "get_weather"))))
	fsPost(t, s, "/v1/logs", globex, fsLogs(fsResource("globex-svc", "9"), fsLog(at(15), 17, "ERROR", "Upstream globex secret", fsTraceID, "", fsAttrs("tool", "get_weather"))))

	hist := func(ts time.Time) string {
		return fmt.Sprintf(`{"timeUnixNano":%s,"count":"2","sum":150,"min":20,"max":80,"bucketCounts":["0","1","1","0"],"explicitBounds":[10,50,100]}`, fsNanos(ts))
	}
	fsPost(t, s, "/v1/metrics", acme, fsMetrics(weather,
		fsGauge("temp", fsPoint(at(0), 10, fsAttrs("host", "a")), fsPoint(at(30), 20, fsAttrs("host", "a")), fsPoint(at(60), 30, fsAttrs("host", "a"))),
		fmt.Sprintf(`{"name":"calls","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"timeUnixNano":%s,"asInt":"6"},{"timeUnixNano":%s,"asInt":"12"}]}}`, fsNanos(at(0)), fsNanos(at(70))),
		`{"name":"latency","unit":"ms","histogram":{"aggregationTemporality":1,"dataPoints":[`+hist(at(5))+`,`+hist(at(20))+`]}}`,
		fmt.Sprintf(`{"name":"size","summary":{"dataPoints":[{"timeUnixNano":%s,"count":"3","sum":30,"quantileValues":[{"quantile":0.5,"value":9},{"quantile":1,"value":15}]}]}}`, fsNanos(at(40))),
		fmt.Sprintf(`{"name":"exp","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":%s,"count":"4","sum":10,"scale":1,"zeroCount":"1","positive":{"offset":2,"bucketCounts":["1","2"]}}]}}`, fsNanos(at(40)))))
	fsPost(t, s, "/v1/metrics", acme, fsMetrics(billing, fsGauge("temp", fsPoint(at(10), 100, fsAttrs("host", "b")))))
	fsPost(t, s, "/v1/metrics", globex, fsMetrics(fsResource("globex-svc", "9"), fsGauge("temp", fsPoint(at(0), 999, fsAttrs("host", "globex")))))

	waitForRows(t, s, "the logs", "SELECT count() FROM logs", 4)
	waitForRows(t, s, "the metric points", "SELECT count() FROM metric_points", 11)
	return t0
}

// fsGet fetches path with the window [t0-1m, t0+10m] plus extra and decodes into out.
func fsGet(t *testing.T, s *server, t0 time.Time, tenant, path, extra string, out any) int {
	t.Helper()
	u := fmt.Sprintf("http://%s%s?start_time=%d&end_time=%d&%s", s.httpAddr, path,
		t0.Add(-time.Minute).UnixMilli(), t0.Add(10*time.Minute).UnixMilli(), extra)
	return getJSON(t, u, mintJWT(t, tenant), out)
}

func TestFetchSignals(t *testing.T) {
	s := startTestServer(t)
	t0 := seedSignals(t, s)
	t.Run("logs", func(t *testing.T) { testFetchLogs(t, s, t0) })
	t.Run("metrics", func(t *testing.T) { testFetchMetrics(t, s, t0) })
	t.Run("series", func(t *testing.T) { testFetchMetricSeries(t, s, t0) })
	t.Run("resources", func(t *testing.T) { testFetchResources(t, s, t0) })
	t.Run("metric names", func(t *testing.T) { testFetchMetricNames(t, s, t0) })
	t.Run("injection is inert", func(t *testing.T) { testFetchSignalsInjection(t, s, t0) })
}

func testFetchLogs(t *testing.T, s *server, t0 time.Time) {
	bodies := func(p fetch.LogsPage) string {
		var b []string
		for _, l := range p.Logs {
			b = append(b, l.Body)
		}
		return strings.Join(b, "|")
	}
	const failed, ok, slow = "Upstream weather API failed", "tool call ok", "slow response"
	tests := []struct{ query, want string }{
		{"", slow + "|" + ok + "|" + failed},
		{"severity=error", failed},
		{"severity=WARN", slow}, // by number: the record has no severity text
		{"min_severity=13", slow + "|" + failed},
		{"min_severity=warn", slow + "|" + failed},
		{"body_contains=UPSTREAM", failed},
		{"search=Response", slow},
		{"search=%25", ""}, // a substring, not a LIKE pattern
		{"trace_id=" + strings.ToUpper(fsTraceID), failed},
		{"span_id=" + fsSpanID, failed},
		{"service_name=billing", slow},
		{"attr.tool=get_weather", slow + "|" + failed},
		{"attr.mode=get_time", ""},
		{"attr.service.version=2.0", slow}, // a resource attribute
		// A repeated key is OR (docs/api.md), as on every endpoint: TestAttributeFiltersAgree.
		{"attr.tool=get_weather&attr.tool=get_time", slow + "|" + ok + "|" + failed},
		{"attr.tool=get_time&attr.tool=nothing", ok},
		{"attr.tool=get_weather&severity=ERROR&body_contains=api&service_name=weather-mcp", failed},
	}
	for _, tt := range tests {
		var page fetch.LogsPage
		if status := fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", tt.query, &page); status != http.StatusOK {
			t.Errorf("%s: status %d", tt.query, status)
			continue
		}
		if got := bodies(page); got != tt.want || page.TotalCount != uint64(len(page.Logs)) {
			t.Errorf("%s: %q (total %d), want %q", tt.query, got, page.TotalCount, tt.want)
		}
	}
	var one fetch.LogsPage
	fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", "trace_id="+fsTraceID, &one)
	if len(one.Logs) != 1 {
		t.Fatalf("by trace id: %+v", one)
	}
	l := one.Logs[0]
	if !l.Timestamp.Equal(t0.Add(10*time.Second)) || !l.ObservedTimestamp.Equal(t0.Add(11*time.Second)) || l.SeverityNumber != 17 ||
		l.SeverityText != "ERROR" || l.SpanID != fsSpanID || l.ServiceName != "weather-mcp" || l.ScopeName != "mcp" ||
		l.Attributes["tool"] != "get_weather" || l.ResourceAttributes["service.version"] != "1.2.3" {
		t.Errorf("log = %+v", l)
	}
	var page2 fetch.LogsPage
	fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", "limit=1&offset=1", &page2)
	if bodies(page2) != ok || page2.TotalCount != 3 || page2.Page != 2 || page2.PageSize != 1 || page2.TotalPages != 3 {
		t.Errorf("page 2 = %+v", page2)
	}
	var foreign fetch.LogsPage
	fsGet(t, s, t0, "globex", "/telemetry/fetch_logs", "", &foreign)
	if bodies(foreign) != "Upstream globex secret" {
		t.Errorf("globex sees %q", bodies(foreign))
	}
	for _, bad := range []string{"min_severity=99", "trace_id=xyz", "span_id=1", "attr.=1", "limit=0", "cursor=x"} {
		if status := fsGet(t, s, t0, "acme", "/telemetry/fetch_logs", bad, nil); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, status)
		}
	}
}

func testFetchMetrics(t *testing.T, s *server, t0 time.Time) {
	get := func(query string) fetch.MetricsPage {
		t.Helper()
		var page fetch.MetricsPage
		if status := fsGet(t, s, t0, "acme", "/telemetry/fetch_metrics", query, &page); status != http.StatusOK {
			t.Fatalf("%s: status %d", query, status)
		}
		return page
	}
	for query, want := range map[string]uint64{
		"": 10, "metric_name=temp": 4, "type=histogram": 2, "service_name=billing": 1, "attr.host=a": 3,
		"metric_name=temp&attr.host=a&service_name=weather-mcp&type=gauge": 3, "type=sum&metric_name=temp": 0,
	} {
		if page := get(query); page.TotalCount != want || len(page.Metrics) != int(want) {
			t.Errorf("%q: %d points (%d listed), want %d", query, page.TotalCount, len(page.Metrics), want)
		}
	}
	byName := map[string]fetch.MetricPoint{}
	for _, p := range get("limit=100").Metrics {
		byName[p.MetricName] = p
	}
	h := byName["latency"]
	if h.Type != "histogram" || h.Unit != "ms" || *h.Count != 2 || *h.Sum != 150 || *h.Min != 20 || *h.Max != 80 ||
		fmt.Sprint(h.BucketCounts, h.ExplicitBounds) != "[0 1 1 0] [10 50 100]" || h.AggregationTemporality != "delta" || h.Value != nil {
		t.Errorf("histogram point = %+v", h)
	}
	c := byName["calls"]
	if c.Type != "sum" || c.IntValue == nil || *c.IsMonotonic != true || c.AggregationTemporality != "delta" || c.Count != nil {
		t.Errorf("sum point = %+v", c)
	}
	if sz := byName["size"]; sz.Type != "summary" || *sz.Count != 3 || *sz.Sum != 30 || fmt.Sprint(sz.Quantiles) != "[{0.5 9} {1 15}]" {
		t.Errorf("summary point = %+v", sz)
	}
	if e := byName["exp"]; e.Type != "exponential_histogram" || *e.Scale != 1 || *e.ZeroCount != 1 || e.Positive.Offset != 2 || fmt.Sprint(e.Positive.BucketCounts) != "[1 2]" {
		t.Errorf("exponential histogram point = %+v", e)
	}
	if temp := byName["temp"]; temp.Value == nil || temp.ServiceName == "" || temp.Attributes["host"] == "" || temp.ResourceAttributes["host.name"] != "h1" {
		t.Errorf("gauge point = %+v", temp)
	}
	var foreign fetch.MetricsPage
	fsGet(t, s, t0, "globex", "/telemetry/fetch_metrics", "", &foreign)
	if foreign.TotalCount != 1 || *foreign.Metrics[0].Value != 999 {
		t.Errorf("globex sees %+v", foreign)
	}
}

func testFetchMetricSeries(t *testing.T, s *server, t0 time.Time) {
	ms := t0.UnixMilli()
	render := func(a fetch.MetricSeriesAnswer) string {
		var out []string
		for _, se := range a.Series {
			label := se.ServiceName + se.Attributes["host"]
			var pts []string
			for _, p := range se.Points {
				pts = append(pts, fmt.Sprintf("%d:%.4g", (p.T-ms)/1000, p.V))
			}
			out = append(out, label+"["+strings.Join(pts, " ")+"]")
		}
		return strings.Join(out, " ")
	}
	tests := []struct{ tenant, query, want string }{
		{"acme", "metric_name=temp&step=1m&agg=sum", "[0:130 60:30]"},
		{"acme", "metric_name=temp&step=1m&agg=avg", "[0:43.33 60:30]"},
		{"acme", "metric_name=temp&step=1m&agg=p50", "[0:20 60:30]"},
		{"acme", "metric_name=temp&step=1m&agg=count", "[0:3 60:1]"},
		{"acme", "metric_name=temp&step=5m&agg=max&group_by=service_name", "billing[0:100] weather-mcp[0:30]"},
		{"acme", "metric_name=temp&step=1h&agg=min&group_by=attr.host", "a[0:10] b[0:100]"},
		{"acme", "metric_name=temp&step=1m&agg=sum&service_name=billing", "[0:100]"},
		{"acme", "metric_name=calls&step=1m&agg=rate", "[0:0.1 60:0.2]"},
		{"acme", "metric_name=calls&step=5m&agg=rate", "[0:0.06]"},
		// Day buckets start at midnight UTC, before t0 (which is only hour-aligned).
		{"acme", "metric_name=calls&step=1d&agg=sum", fmt.Sprintf("[%d:18]", t0.Truncate(24*time.Hour).Unix()-t0.Unix())},
		// Two points of [0,1,1,0] in bounds [10,50,100]: 4 observations, 2 in (10,50], 2 in (50,100].
		{"acme", "metric_name=latency&step=1m&agg=p50", "[0:50]"},
		{"acme", "metric_name=latency&step=1m&agg=p99", "[0:99]"},
		{"acme", "metric_name=latency&step=1m&agg=avg", "[0:75]"},
		{"acme", "metric_name=latency&step=1m&agg=count", "[0:4]"},
		{"acme", "metric_name=latency&step=1m&agg=max", "[0:80]"},
		{"acme", "metric_name=nothing&step=1m&agg=sum", ""},
		{"globex", "metric_name=temp&step=1m&agg=sum", "[0:999]"},
	}
	for _, tt := range tests {
		var a fetch.MetricSeriesAnswer
		if status := fsGet(t, s, t0, tt.tenant, "/telemetry/fetch_metrics", tt.query, &a); status != http.StatusOK {
			t.Errorf("%s: status %d", tt.query, status)
			continue
		}
		if got := render(a); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.tenant, tt.query, got, tt.want)
		}
	}
	for _, bad := range []string{"step=1m&agg=sum", "metric_name=temp&step=7m", "metric_name=temp&step=1m&agg=median",
		"metric_name=size&step=1m&agg=p50", "metric_name=temp&step=1m&group_by=token_id"} {
		if status := fsGet(t, s, t0, "acme", "/telemetry/fetch_metrics", bad, nil); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, status)
		}
	}
}

func testFetchResources(t *testing.T, s *server, t0 time.Time) {
	get := func(tenant, start, end, extra string) fetch.ResourcesPage {
		t.Helper()
		var page fetch.ResourcesPage
		u := fmt.Sprintf("http://%s/telemetry/fetch_resources?start_time=%s&end_time=%s&%s", s.httpAddr, url.QueryEscape(start), url.QueryEscape(end), extra)
		if status := getJSON(t, u, mintJWT(t, tenant), &page); status != http.StatusOK {
			t.Fatalf("%s: status %d", u, status)
		}
		return page
	}
	at := func(sec int) string { return t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339) }
	page := get("acme", at(-60), at(600), "")
	if page.TotalCount != 2 || len(page.Resources) != 2 {
		t.Fatalf("resources = %+v", page)
	}
	w, b := page.Resources[0], page.Resources[1] // latest first
	if w.ServiceName != "weather-mcp" || w.ServiceVersion != "1.2.3" || !w.FirstSeen.Equal(t0) || !w.LastSeen.Equal(t0.Add(70*time.Second)) ||
		w.Attributes["host.name"] != "h1" {
		t.Errorf("weather-mcp = %+v", w)
	}
	if b.ServiceName != "billing" || b.ServiceVersion != "2.0" || !b.FirstSeen.Equal(t0.Add(10*time.Second)) || !b.LastSeen.Equal(t0.Add(30*time.Second)) {
		t.Errorf("billing = %+v", b)
	}
	if p := get("acme", at(40), at(600), ""); p.TotalCount != 1 || p.Resources[0].ServiceName != "weather-mcp" {
		t.Errorf("window after billing's last row: %+v", p)
	}
	if p := get("acme", at(-3600), at(-1), ""); p.TotalCount != 0 {
		t.Errorf("window before every row: %+v", p)
	}
	if p := get("acme", at(-60), at(600), "service_name=billing"); p.TotalCount != 1 || p.Resources[0].ServiceName != "billing" {
		t.Errorf("service_name=billing: %+v", p)
	}
	if p := get("acme", at(-60), at(600), "limit=1&offset=1"); len(p.Resources) != 1 || p.Resources[0].ServiceName != "billing" || p.TotalPages != 2 || p.Page != 2 {
		t.Errorf("page 2: %+v", p)
	}
	if p := get("globex", at(-60), at(600), ""); p.TotalCount != 1 || p.Resources[0].ServiceName != "globex-svc" {
		t.Errorf("globex sees %+v", p)
	}
	// Without a window: every service the table holds (the UI's service pickers).
	var all fetch.ResourcesPage
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_resources?service_name=billing", mintJWT(t, "acme"), &all); status != http.StatusOK ||
		all.TotalCount != 1 || all.Resources[0].ServiceName != "billing" {
		t.Errorf("no window, service_name=billing: %d %+v", status, all)
	}
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_resources", mintJWT(t, "acme"), &all); status != http.StatusOK || all.TotalCount != 2 {
		t.Errorf("no window: %d %+v", status, all)
	}
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_resources?end_time="+url.QueryEscape(at(600)), mintJWT(t, "acme"), nil); status != http.StatusBadRequest {
		t.Errorf("end_time without start_time: %d, want 400", status)
	}
}

func testFetchMetricNames(t *testing.T, s *server, t0 time.Time) {
	render := func(tenant, extra string) string {
		t.Helper()
		var a struct {
			Metrics []fetch.MetricName `json:"metrics"`
		}
		if status := fsGet(t, s, t0, tenant, "/telemetry/fetch_metric_names", extra, &a); status != http.StatusOK {
			t.Fatalf("%s %s: status %d", tenant, extra, status)
		}
		var parts []string
		for _, m := range a.Metrics {
			parts = append(parts, fmt.Sprintf("%s:%s:%s:%d", m.MetricName, m.Type, m.Unit, m.Points))
		}
		return strings.Join(parts, " ")
	}
	for _, tt := range []struct{ tenant, extra, want string }{
		{"acme", "", "calls:sum::2 exp:exponential_histogram::1 latency:histogram:ms:2 size:summary::1 temp:gauge::4"},
		{"acme", "service_name=billing", "temp:gauge::1"},
		{"globex", "", "temp:gauge::1"},
	} {
		if got := render(tt.tenant, tt.extra); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.tenant, tt.extra, got, tt.want)
		}
	}
}

// testFetchSignalsInjection sends SQL in every parameter of the signal routes: each
// answer is 200 or 400, never 500, and never shows another tenant's data.
func testFetchSignalsInjection(t *testing.T, s *server, t0 time.Time) {
	payloads := []string{
		"' OR 1=1 --", "x') OR tenant_id != 'acme' --", `\' OR 1=1 --`, "1; DROP TABLE logs", "?", "{tenant:String}",
		"' UNION ALL SELECT * FROM logs --", "%' OR ''='",
	}
	routes := map[string][]string{
		"/telemetry/fetch_logs": {"severity", "min_severity", "body_contains", "search", "trace_id", "span_id", "service_name",
			"attr.tool", "limit", "offset", "start_time"},
		"/telemetry/fetch_metrics":      {"metric_name", "type", "service_name", "attr.host", "step", "agg", "group_by", "limit"},
		"/telemetry/fetch_resources":    {"service_name", "offset", "end_time"},
		"/telemetry/fetch_metric_names": {"service_name", "start_time"},
	}
	token := mintJWT(t, "acme")
	for path, params := range routes {
		for _, param := range params {
			for _, payload := range payloads {
				v := url.Values{
					"start_time": {fmt.Sprint(t0.Add(-time.Minute).UnixMilli())},
					"end_time":   {fmt.Sprint(t0.Add(10 * time.Minute).UnixMilli())},
				}
				if path == "/telemetry/fetch_metrics" && (param == "step" || param == "agg" || param == "group_by") {
					v.Set("metric_name", "temp")
					v.Set("step", "1m")
				}
				v.Set(param, payload)
				// The payload as an attribute key too.
				v.Set("attr."+payload, "get_weather")
				status, body := fsRaw(t, "http://"+s.httpAddr.String()+path+"?"+v.Encode(), token)
				if status != http.StatusOK && status != http.StatusBadRequest {
					t.Errorf("%s %s=%q: status %d %s", path, param, payload, status, body)
				}
				if strings.Contains(body, "globex") {
					t.Errorf("%s %s=%q: another tenant's data: %s", path, param, payload, body)
				}
			}
		}
	}
	// The stored data is intact.
	waitForRows(t, s, "the logs after the injection attempts", "SELECT count() FROM logs", 4)
}

func fsRaw(t *testing.T, rawURL, bearer string) (int, string) {
	t.Helper()
	resp, body := rawGet(t, rawURL, bearer)
	return resp.StatusCode, string(body)
}
