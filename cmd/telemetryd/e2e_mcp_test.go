package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
)

// testSpan is a span of an MCP server, as tracesPayload builds it.
type testSpan struct {
	name  string
	attrs map[string]string
	start time.Time
	dur   time.Duration
	err   bool
}

// tracesPayload is an OTLP protobuf request of one resource's spans.
func tracesPayload(t *testing.T, service string, resAttrs map[string]string, spans ...testSpan) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	for k, v := range resAttrs {
		rs.Resource().Attributes().PutStr(k, v)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	for _, s := range spans {
		sp := ss.Spans().AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		_, _ = rand.Read(tid[:])
		_, _ = rand.Read(sid[:])
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName(s.name)
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(ptraceTime(s.start))
		sp.SetEndTimestamp(ptraceTime(s.start.Add(s.dur)))
		for k, v := range s.attrs {
			sp.Attributes().PutStr(k, v)
		}
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toolCall(tool, session string, start time.Time, dur time.Duration, failed bool) testSpan {
	attrs := map[string]string{"mcp.method.name": "tools/call", "mcp.tool.name": tool}
	if session != "" {
		attrs["mcp.session.id"] = session
	}
	return testSpan{name: "tools/call " + tool, attrs: attrs, start: start, dur: dur, err: failed}
}

func ingestToken(t *testing.T, s *server, tenant string) string {
	t.Helper()
	_, tok, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: tenant, Name: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustPost(t *testing.T, s *server, token string, body []byte) {
	t.Helper()
	if resp := postTraces(t, s.httpAddr.String(), token, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest status %d", resp.StatusCode)
	}
}

func TestMCPToolsAndSessions(t *testing.T) {
	s := startTestServer(t)
	base := "http://" + s.httpAddr.String()
	tok := ingestToken(t, s, "mcp-acme")
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ms := time.Millisecond
	// Session s-1 on the spans; s-2 on the resource, whose HTTP client span is no call.
	mustPost(t, s, tok, tracesPayload(t, "weather-mcp", nil,
		testSpan{name: "initialize", attrs: map[string]string{"mcp.method.name": "initialize", "mcp.session.id": "s-1"}, start: t0, dur: 5 * ms},
		toolCall("get_weather", "s-1", t0.Add(10*ms), 100*ms, false),
		toolCall("get_weather", "s-1", t0.Add(20*ms), 200*ms, true),
		toolCall("search", "s-1", t0.Add(30*ms), 50*ms, false),
		testSpan{name: "GET api.weather", start: t0.Add(40 * ms), dur: 20 * ms, err: true}))
	mustPost(t, s, tok, tracesPayload(t, "weather-mcp", map[string]string{"mcp.session.id": "s-2"},
		toolCall("get_weather", "", t0.Add(1000*ms), 300*ms, false),
		toolCall("get_weather", "", t0.Add(1100*ms), 400*ms, false),
		toolCall("search", "", t0.Add(1200*ms), 150*ms, true),
		testSpan{name: "GET api.search", start: t0.Add(1210 * ms), dur: 10 * ms, err: true}))
	mustPost(t, s, tok, tracesPayload(t, "other-mcp", nil, toolCall("translate", "s-3", t0.Add(2000*ms), 10*ms, false)))
	waitForRows(t, s, "the MCP spans", "SELECT count() FROM spans WHERE tenant_id = ?", 10, "mcp-acme")

	acme := mintJWT(t, "mcp-acme")
	window := url.Values{"start_time": {fmt.Sprint(t0.Add(-time.Minute).UnixMilli())}, "end_time": {fmt.Sprint(t0.Add(time.Minute).UnixMilli())}}
	tools := func(t *testing.T, extra string) fetch.MCPToolsPage {
		t.Helper()
		var page fetch.MCPToolsPage
		if status := getJSON(t, base+"/telemetry/fetch_tools?"+window.Encode()+extra, acme, &page); status != http.StatusOK {
			t.Fatalf("fetch_tools%s: status %d", extra, status)
		}
		return page
	}
	names := func(page fetch.MCPToolsPage) []string {
		out := []string{}
		for _, tl := range page.Tools {
			out = append(out, tl.ToolName)
		}
		return out
	}

	all := tools(t, "")
	if got := names(all); !reflect.DeepEqual(got, []string{"get_weather", "search", "translate"}) || all.TotalCount != 3 || all.TotalPages != 1 {
		t.Fatalf("tools = %v, page %+v", got, all)
	}
	gw, se := all.Tools[0], all.Tools[1]
	if gw.Calls != 4 || gw.Errors != 1 || gw.ErrorRate != 0.25 || se.Calls != 2 || se.Errors != 1 || se.ErrorRate != 0.5 {
		t.Errorf("counts: %+v %+v", gw, se)
	}
	// quantiles() interpolates between the durations 100, 200, 300, 400 ms.
	if gw.P50Ms < 200 || gw.P50Ms > 300 || gw.P95Ms < gw.P50Ms || gw.P99Ms < gw.P95Ms || gw.P99Ms > 400 || gw.P95Ms < 300 {
		t.Errorf("get_weather percentiles p50 %v p95 %v p99 %v", gw.P50Ms, gw.P95Ms, gw.P99Ms)
	}
	for _, tt := range []struct{ extra, want string }{
		{"&sort=error_rate", "search,get_weather,translate"},
		{"&sort=p95_ms&sortDirection=asc", "translate,search,get_weather"},
		{"&sort=calls&sortDirection=asc", "translate,search,get_weather"},
		{"&service_name=other-mcp", "translate"},
		{"&limit=1&offset=1", "search"},
	} {
		if got := strings.Join(names(tools(t, tt.extra)), ","); got != tt.want {
			t.Errorf("tools%s = %s, want %s", tt.extra, got, tt.want)
		}
	}
	if p := tools(t, "&limit=1&offset=1"); p.Page != 2 || p.TotalPages != 3 || p.PageSize != 1 {
		t.Errorf("paging = %+v", p)
	}
	if status := getJSON(t, base+"/telemetry/fetch_tools?"+window.Encode()+"&sort=duration_ns", acme, nil); status != http.StatusBadRequest {
		t.Errorf("unknown sort: status %d, want 400", status)
	}

	var sessions fetch.MCPSessionsPage
	if status := getJSON(t, base+"/telemetry/fetch_sessions?"+window.Encode(), acme, &sessions); status != http.StatusOK {
		t.Fatalf("fetch_sessions: status %d", status)
	}
	want := []fetch.MCPSession{
		{SessionID: "s-3", StartTime: t0.Add(2000 * ms).UTC(), EndTime: t0.Add(2010 * ms).UTC(), Calls: 1, Tools: []string{"translate"}},
		{SessionID: "s-2", StartTime: t0.Add(1000 * ms).UTC(), EndTime: t0.Add(1500 * ms).UTC(), Calls: 3, Errors: 1, Tools: []string{"get_weather", "search"}},
		{SessionID: "s-1", StartTime: t0.UTC(), EndTime: t0.Add(220 * ms).UTC(), Calls: 4, Errors: 1, Tools: []string{"get_weather", "search"}},
	}
	if !reflect.DeepEqual(sessions.Sessions, want) || sessions.TotalCount != 3 {
		t.Errorf("sessions = %+v\nwant %+v", sessions, want)
	}
	var weather fetch.MCPSessionsPage
	getJSON(t, base+"/telemetry/fetch_sessions?"+window.Encode()+"&service_name=weather-mcp&limit=1", acme, &weather)
	if weather.TotalCount != 2 || len(weather.Sessions) != 1 || weather.Sessions[0].SessionID != "s-2" || weather.TotalPages != 2 {
		t.Errorf("weather-mcp sessions = %+v", weather)
	}

	// Another tenant sees none of it.
	globex := mintJWT(t, "mcp-globex")
	var foreignTools fetch.MCPToolsPage
	var foreignSessions fetch.MCPSessionsPage
	getJSON(t, base+"/telemetry/fetch_tools?"+window.Encode(), globex, &foreignTools)
	getJSON(t, base+"/telemetry/fetch_sessions?"+window.Encode(), globex, &foreignSessions)
	if foreignTools.TotalCount != 0 || len(foreignTools.Tools) != 0 || foreignSessions.TotalCount != 0 || len(foreignSessions.Sessions) != 0 {
		t.Errorf("another tenant sees %+v %+v", foreignTools, foreignSessions)
	}
	if status := getJSON(t, base+"/telemetry/fetch_sessions?end_time=1", acme, nil); status != http.StatusBadRequest {
		t.Errorf("missing start_time: status %d", status)
	}
	testToolSeries(t, base, window, acme, globex)
}

// testToolSeries checks fetch_tool_series on TestMCPToolsAndSessions's calls. The
// calls may straddle a minute, so points are checked by their sums.
func testToolSeries(t *testing.T, base string, window url.Values, acme, globex string) {
	series := func(token, extra string) (int, fetch.ToolSeriesAnswer) {
		t.Helper()
		var a fetch.ToolSeriesAnswer
		status := getJSON(t, base+"/telemetry/fetch_tool_series?"+window.Encode()+extra, token, &a)
		return status, a
	}
	render := func(a fetch.ToolSeriesAnswer) string {
		var parts []string
		for _, s := range a.Series {
			var calls, errors uint64
			for _, p := range s.Points {
				calls, errors = calls+p.Calls, errors+p.Errors
				if p.T%60000 != 0 || p.P50Ms > p.P95Ms || p.P95Ms > p.P99Ms || p.ErrorRate != float64(p.Errors)/float64(p.Calls) {
					t.Errorf("%s point %+v", s.ToolName, p)
				}
			}
			parts = append(parts, fmt.Sprintf("%s:%d/%d/%d", s.ToolName, s.Calls, calls, errors))
		}
		return strings.Join(parts, " ")
	}
	for _, tt := range []struct{ extra, want string }{
		{"&step=1m", "get_weather:4/4/1 search:2/2/1 translate:1/1/0"},
		{"&step=1m&tool_name=search", "search:2/2/1"},
		{"&step=1h&service_name=other-mcp", "translate:1/1/0"},
	} {
		status, a := series(acme, tt.extra)
		if status != http.StatusOK || a.Truncated {
			t.Fatalf("fetch_tool_series%s: status %d %+v", tt.extra, status, a)
		}
		if got := render(a); got != tt.want {
			t.Errorf("fetch_tool_series%s = %s, want %s", tt.extra, got, tt.want)
		}
	}
	if _, a := series(globex, "&step=1m"); len(a.Series) != 0 {
		t.Errorf("another tenant sees %+v", a)
	}
	for _, bad := range []string{"", "&step=7m", "&step=1m&cursor=x"} {
		if status, _ := series(acme, bad); status != http.StatusBadRequest {
			t.Errorf("fetch_tool_series%s: status %d, want 400", bad, status)
		}
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// tailClient reads a tail's events on a goroutine until closed.
type tailClient struct {
	resp     *http.Response
	events   chan sseEvent
	done     chan struct{}
	finished chan struct{}
	once     sync.Once
}

// openTail opens GET /telemetry/tail; the client is closed at cleanup at the latest.
func openTail(t *testing.T, s *server, bearer, query, lastID string) *tailClient {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.httpAddr.String()+"/telemetry/tail?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &tailClient{resp: resp, events: make(chan sseEvent), done: make(chan struct{}), finished: make(chan struct{})}
	t.Cleanup(c.close)
	go c.read()
	return c
}

func (c *tailClient) read() {
	defer close(c.finished)
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(nil, 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" && ev != (sseEvent{}):
			select {
			case c.events <- ev:
			case <-c.done:
				return
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func (c *tailClient) close() {
	c.once.Do(func() {
		close(c.done)
		c.resp.Body.Close()
		<-c.finished
	})
}

// nextSpans waits for the next event, which must carry spans, and returns their names.
func (c *tailClient) nextSpans(t *testing.T) (id string, names []string) {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("tail ended")
		}
		var spans []fetch.Span
		if err := json.Unmarshal([]byte(ev.data), &spans); err != nil || ev.event != "spans" || ev.id == "" {
			t.Fatalf("event %+v: %v", ev, err)
		}
		for _, sp := range spans {
			names = append(names, sp.Name)
		}
		return ev.id, names
	case <-time.After(15 * time.Second):
		t.Fatal("no tail event within 15s")
	}
	return "", nil
}

func TestLiveTail(t *testing.T) {
	s := startTestServer(t)
	tokA, tokB := ingestToken(t, s, "tail-a"), ingestToken(t, s, "tail-b")
	jwtA, jwtB := mintJWT(t, "tail-a"), mintJWT(t, "tail-b")
	post := func(tok, name string) {
		mustPost(t, s, tok, tracesPayload(t, "svc", nil, testSpan{name: name, start: time.Now(), dur: time.Millisecond}))
	}
	expect := func(c *tailClient, want ...string) []string {
		t.Helper()
		var ids []string
		for _, name := range want {
			id, names := c.nextSpans(t)
			if len(names) != 1 || names[0] != name {
				t.Fatalf("event %s has spans %v, want [%s]", id, names, name)
			}
			ids = append(ids, id)
		}
		return ids
	}

	// The response headers arrive once the tail's consumer exists.
	a1, b1 := openTail(t, s, jwtA, "", ""), openTail(t, s, jwtB, "signal=traces", "")
	if a1.resp.StatusCode != http.StatusOK || a1.resp.Header.Get("Content-Type") != "text/event-stream" || b1.resp.StatusCode != http.StatusOK {
		t.Fatalf("tail status %d / %d", a1.resp.StatusCode, b1.resp.StatusCode)
	}
	post(tokA, "a1")
	post(tokB, "b1")
	post(tokA, "a2")
	post(tokA, "a3")
	ids := expect(a1, "a1", "a2", "a3") // b1 came before a2: had A seen it, it would be here
	expect(b1, "b1")
	post(tokB, "b2")
	expect(b1, "b2") // and B saw neither a2 nor a3
	for i := 1; i < len(ids); i++ {
		prev, _ := strconv.ParseUint(ids[i-1], 10, 64)
		cur, _ := strconv.ParseUint(ids[i], 10, 64)
		if cur <= prev {
			t.Errorf("ids %v do not increase", ids)
		}
	}

	// Resuming after a1 replays exactly a2 and a3, then goes on live.
	a2 := openTail(t, s, jwtA, "", ids[0])
	if got := expect(a2, "a2", "a3"); !reflect.DeepEqual(got, ids[1:]) {
		t.Errorf("resumed ids %v, want %v", got, ids[1:])
	}
	a3 := openTail(t, s, jwtA, "last_event_id="+ids[1], "")
	expect(a3, "a3")
	post(tokA, "a4")
	expect(a1, "a4")
	expect(a2, "a4")
	expect(a3, "a4")

	// Filters: a logs-only tail skips spans; a service filter skips other services.
	a2.close()
	a3.close()
	logsOnly := openTail(t, s, jwtA, "signal=logs", "")
	other := openTail(t, s, jwtA, "service_name=other", "")
	post(tokA, "a5")
	mustPost(t, s, tokA, tracesPayload(t, "other", nil, testSpan{name: "o1", start: time.Now(), dur: time.Millisecond}))
	if resp := postWithBody(t, s, tokA, "/v1/logs", logsBody(t, 1, 1)); resp != http.StatusOK {
		t.Fatalf("post logs: %d", resp)
	}
	expect(other, "o1")
	select {
	case ev := <-logsOnly.events:
		if ev.event != "logs" || !strings.Contains(ev.data, `"body":"log 1/0"`) {
			t.Errorf("logs tail got %+v", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no log event")
	}

	// Five tails per tenant: a1, logsOnly, other, and two more; the sixth is refused.
	extra := []*tailClient{openTail(t, s, jwtA, "", ""), openTail(t, s, jwtA, "", "")}
	refused := openTail(t, s, jwtA, "", "")
	if refused.resp.StatusCode != http.StatusTooManyRequests || refused.resp.Header.Get("Retry-After") == "" {
		t.Errorf("sixth tail: status %d, Retry-After %q", refused.resp.StatusCode, refused.resp.Header.Get("Retry-After"))
	}
	if c := openTail(t, s, jwtB, "", ""); c.resp.StatusCode != http.StatusOK {
		t.Errorf("another tenant's tail refused: %d", c.resp.StatusCode)
	}
	for _, c := range extra {
		if c.resp.StatusCode != http.StatusOK {
			t.Errorf("tail within the limit: status %d", c.resp.StatusCode)
		}
	}

	for _, tt := range []struct {
		name, bearer, query string
		want                int
	}{
		{"no credential", "", "", http.StatusUnauthorized},
		{"ingest token", tokA, "", http.StatusForbidden},
		{"bad signal", jwtB, "signal=spans", http.StatusBadRequest},
	} {
		if c := openTail(t, s, tt.bearer, tt.query, ""); c.resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, c.resp.StatusCode, tt.want)
		}
	}
}

// postWithBody posts an OTLP protobuf body to path and returns the status.
func postWithBody(t *testing.T, s *server, token, path string, body []byte) int {
	t.Helper()
	resp, _ := postWith(t, "http://"+s.httpAddr.String()+path, map[string]string{
		"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token}, body)
	return resp.StatusCode
}
