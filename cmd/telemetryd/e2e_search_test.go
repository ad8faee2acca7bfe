package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
)

// The search data set: trace A (api root GET /orders 100 ms + db child with an error,
// an event and a link to B), trace B (api root POST /pay 500 ms, status ok), trace C
// (30 worker spans of 1..30 ms); and for another tenant a trace G plus a span in a
// trace with A's id.
var (
	traceA = pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	traceB = pcommon.TraceID{0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	traceC = pcommon.TraceID{0xcc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	traceG = pcommon.TraceID{0xdd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

const (
	acmeSpans = 33
	oddNote   = `it's \ ü✓`
)

func hexTrace(id pcommon.TraceID) string { return hex.EncodeToString(id[:]) }

type searchSpan struct {
	service, name string
	trace         pcommon.TraceID
	id, parent    byte
	start         time.Time
	dur           time.Duration
	status        ptrace.StatusCode
	attrs         map[string]string
	decorate      func(ptrace.Span)
}

// searchBody is an OTLP protobuf request with one resource per span (service.name, and
// deployment.environment=prod for api).
func searchBody(t *testing.T, spans []searchSpan) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	for _, sp := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", sp.service)
		if sp.service == "api" {
			rs.Resource().Attributes().PutStr("deployment.environment", "prod")
		}
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetName(sp.name)
		s.SetTraceID(sp.trace)
		s.SetSpanID(pcommon.SpanID{sp.trace[0], sp.id, 1})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{sp.trace[0], sp.parent, 1})
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(sp.start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(sp.start.Add(sp.dur)))
		s.Status().SetCode(sp.status)
		for k, v := range sp.attrs {
			s.Attributes().PutStr(k, v)
		}
		if sp.decorate != nil {
			sp.decorate(s)
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type searchEnv struct {
	base         string
	acme, globex string
	window       url.Values
	t0           time.Time
	s            *server
}

func startSearchEnv(t *testing.T) *searchEnv {
	s := startTestServer(t)
	e := &searchEnv{base: "http://" + s.httpAddr.String(), acme: mintJWT(t, "acme"), globex: mintJWT(t, "globex"), s: s}
	e.t0 = time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond).UTC()
	e.window = url.Values{"start_time": {fmt.Sprint(e.t0.Add(-time.Minute).UnixMilli())},
		"end_time": {time.Now().Add(time.Minute).Format(time.RFC3339)}}
	t0 := e.t0
	acme := []searchSpan{
		{service: "api", name: "GET /orders", trace: traceA, id: 1, start: t0, dur: 100 * time.Millisecond,
			attrs: map[string]string{"http.method": "GET", "http.route": "/orders"}},
		{service: "db", name: "SELECT orders", trace: traceA, id: 2, parent: 1, start: t0.Add(10 * time.Millisecond),
			dur: 40 * time.Millisecond, status: ptrace.StatusCodeError, decorate: func(s ptrace.Span) {
				ev := s.Events().AppendEmpty()
				ev.SetName("retry")
				ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(20 * time.Millisecond)))
				ev.Attributes().PutInt("attempt", 2)
				ln := s.Links().AppendEmpty()
				ln.SetTraceID(traceB)
				ln.SetSpanID(pcommon.SpanID{0xbb, 1, 1})
				ln.TraceState().FromRaw("k=v")
				ln.Attributes().PutStr("why", "caused-by")
			}},
		{service: "api", name: "POST /pay", trace: traceB, id: 1, start: t0.Add(time.Second), dur: 500 * time.Millisecond,
			status: ptrace.StatusCodeOk, attrs: map[string]string{"http.method": "POST", "note": oddNote}},
	}
	for i := 0; i < 30; i++ {
		acme = append(acme, searchSpan{service: "worker", name: fmt.Sprintf("work %02d", i), trace: traceC, id: byte(i + 1),
			start: t0.Add(2*time.Second + time.Duration(i)*time.Millisecond), dur: time.Duration(i+1) * time.Millisecond})
	}
	globex := []searchSpan{
		{service: "api", name: "secret", trace: traceG, id: 1, start: t0, dur: time.Millisecond},
		{service: "api", name: "secret in A", trace: traceA, id: 9, start: t0, dur: time.Millisecond},
	}
	for tenant, spans := range map[string][]searchSpan{"acme": acme, "globex": globex} {
		_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		if resp := postTraces(t, s.httpAddr.String(), token, searchBody(t, spans)); resp.StatusCode != http.StatusOK {
			t.Fatalf("post %s spans: status %d", tenant, resp.StatusCode)
		}
	}
	waitForRows(t, s, "every span persisted", "SELECT count() FROM spans", acmeSpans+2)
	return e
}

// query is the window plus extra parameters ("k", "v", ...).
func (e *searchEnv) query(kv ...string) url.Values {
	v := url.Values{}
	for k, vals := range e.window {
		v[k] = vals
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func (e *searchEnv) spans(t *testing.T, bearer string, v url.Values) fetch.SpansPage {
	t.Helper()
	var p fetch.SpansPage
	if status := getJSON(t, e.base+"/telemetry/fetch_spans?"+v.Encode(), bearer, &p); status != http.StatusOK {
		t.Fatalf("fetch_spans?%s: status %d", v.Encode(), status)
	}
	return p
}

func (e *searchEnv) traces(t *testing.T, bearer string, v url.Values) fetch.TracesPage {
	t.Helper()
	var p fetch.TracesPage
	if status := getJSON(t, e.base+"/telemetry/fetch_traces?"+v.Encode(), bearer, &p); status != http.StatusOK {
		t.Fatalf("fetch_traces?%s: status %d", v.Encode(), status)
	}
	return p
}

func TestSearchFilters(t *testing.T) {
	e := startSearchEnv(t)
	a, b := hexTrace(traceA), hexTrace(traceB)
	spanCases := []struct {
		params []string
		want   uint64
	}{
		{nil, acmeSpans},
		{[]string{"service_name", "api"}, 2},
		{[]string{"service_name", "worker"}, 30},
		{[]string{"status", "error"}, 1},
		{[]string{"status", "ok"}, 1},
		{[]string{"status", "UNSET"}, 31},
		{[]string{"trace_id", a}, 2},
		{[]string{"trace_id", hexTrace(traceG)}, 0},
		{[]string{"name", "GET /orders"}, 1},
		{[]string{"name", "GET"}, 0},
		{[]string{"name_contains", "ORDERS"}, 2},
		{[]string{"attr.http.method", "GET"}, 1},
		{[]string{"attr.deployment.environment", "prod"}, 2},
		{[]string{"attr.note", oddNote}, 1},
		{[]string{"attr.http.method", "GET", "attr.http.route", "/orders"}, 1},
		{[]string{"attr.http.method", "GET", "service_name", "db"}, 0},
		{[]string{"attr.missing", ""}, 0},
		{[]string{"min_duration_ms", "100"}, 2},
		{[]string{"max_duration_ms", "10"}, 10},
		{[]string{"min_duration_ms", "4.5", "max_duration_ms", "10"}, 6},
	}
	for _, tt := range spanCases {
		p := e.spans(t, e.acme, e.query(tt.params...))
		if p.TotalCount != tt.want {
			t.Errorf("fetch_spans %v: total %d, want %d", tt.params, p.TotalCount, tt.want)
		}
		if want := min(tt.want, 25); uint64(len(p.Spans)) != want {
			t.Errorf("fetch_spans %v: %d spans on page 1, want %d", tt.params, len(p.Spans), want)
		}
	}
	traceCases := []struct {
		params []string
		want   []string // trace ids, default order (newest first)
	}{
		{nil, []string{hexTrace(traceC), b, a}},
		{[]string{"service_name", "db"}, []string{a}},
		{[]string{"status", "error"}, []string{a}},
		{[]string{"attr.http.method", "POST"}, []string{b}},
		{[]string{"name_contains", "work"}, []string{hexTrace(traceC)}},
		{[]string{"trace_id", b}, []string{b}},
		{[]string{"min_duration_ms", "200"}, []string{b}},
		{[]string{"max_duration_ms", "80"}, []string{hexTrace(traceC)}},
		{[]string{"min_duration_ms", "60", "max_duration_ms", "100"}, []string{a}},
	}
	for _, tt := range traceCases {
		p := e.traces(t, e.acme, e.query(tt.params...))
		var got []string
		for _, tr := range p.Traces {
			got = append(got, tr.TraceID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || p.TotalCount != uint64(len(tt.want)) {
			t.Errorf("fetch_traces %v: %v (total %d), want %v", tt.params, got, p.TotalCount, tt.want)
		}
	}
	// A trace selected by one span is still summarised from all of its spans.
	tr := e.traces(t, e.acme, e.query("service_name", "db")).Traces[0]
	if tr.SpanCount != 2 || tr.Status != "error" || tr.ServiceName != "api" || tr.OperationName != "GET /orders" ||
		tr.DurationMs != 100 || tr.UUID != a {
		t.Errorf("trace A summary = %+v", tr)
	}
	// The other tenant sees only its own spans, whatever the filter.
	if p := e.spans(t, e.globex, e.query()); p.TotalCount != 2 {
		t.Errorf("globex sees %d spans, want 2", p.TotalCount)
	}
	if p := e.spans(t, e.globex, e.query("trace_id", a)); p.TotalCount != 1 || p.Spans[0].Name != "secret in A" {
		t.Errorf("globex's spans of trace A = %+v", p.Spans)
	}
}

func TestSearchSortAndPaging(t *testing.T) {
	e := startSearchEnv(t)
	// Sorting, both directions: each sort key is ordered as asked.
	keyOf := map[string]func(fetch.Span) string{
		"start_time":   func(s fetch.Span) string { return s.StartTime.Format("2006-01-02T15:04:05.000000000") },
		"duration":     func(s fetch.Span) string { return fmt.Sprintf("%020.6f", s.DurationMs) },
		"name":         func(s fetch.Span) string { return s.Name },
		"service_name": func(s fetch.Span) string { return s.ServiceName },
	}
	for sortName, key := range keyOf {
		for _, dir := range []string{"asc", "desc"} {
			// Walk every page by cursor: every span exactly once, keys in order.
			seen := map[string]bool{}
			var prev string
			v := e.query("sort", sortName, "sortDirection", dir, "limit", "7")
			for page := 1; ; page++ {
				p := e.spans(t, e.acme, v)
				if p.Page != page || p.TotalCount != acmeSpans || p.TotalPages != 5 {
					t.Fatalf("%s %s page %d: page %d total %d pages %d", sortName, dir, page, p.Page, p.TotalCount, p.TotalPages)
				}
				for _, s := range p.Spans {
					k := key(s)
					if prev != "" && ((dir == "asc" && k < prev) || (dir == "desc" && k > prev)) {
						t.Errorf("%s %s: %q after %q", sortName, dir, k, prev)
					}
					prev = k
					if seen[s.SpanID] {
						t.Errorf("%s %s: span %s twice", sortName, dir, s.SpanID)
					}
					seen[s.SpanID] = true
				}
				if p.NextCursor == "" {
					break
				}
				if page > 5 {
					t.Fatalf("%s %s: more pages than spans", sortName, dir)
				}
				v.Set("cursor", p.NextCursor)
				v.Set("offset", "999") // ignored with a cursor
			}
			if len(seen) != acmeSpans {
				t.Errorf("%s %s: cursor walk saw %d spans, want %d", sortName, dir, len(seen), acmeSpans)
			}
		}
	}
	// Paging by offset covers the same spans, and the last page has no next cursor.
	seen := map[string]bool{}
	for offset := 0; offset < acmeSpans; offset += 10 {
		p := e.spans(t, e.acme, e.query("limit", "10", "offset", fmt.Sprint(offset), "sort", "name", "sortDirection", "asc"))
		if p.Page != offset/10+1 || (p.NextCursor == "") != (offset+10 >= acmeSpans) {
			t.Errorf("offset %d: page %d next_cursor %q", offset, p.Page, p.NextCursor)
		}
		for _, s := range p.Spans {
			seen[s.SpanID] = true
		}
	}
	if len(seen) != acmeSpans {
		t.Errorf("offset paging saw %d spans", len(seen))
	}
	if p := e.spans(t, e.acme, e.query("offset", "100")); len(p.Spans) != 0 || p.TotalCount != acmeSpans {
		t.Errorf("past the end: %d spans, total %d", len(p.Spans), p.TotalCount)
	}
	// A cursor only continues the sort it was issued for.
	first := e.spans(t, e.acme, e.query("sort", "name", "limit", "5"))
	if status := getJSON(t, e.base+"/telemetry/fetch_spans?"+e.query("sort", "duration", "cursor", first.NextCursor).Encode(), e.acme, nil); status != http.StatusBadRequest {
		t.Errorf("cursor of another sort: status %d", status)
	}

	// Traces: sorted by duration and span count, and walked one per page by cursor.
	for _, tt := range []struct{ sort, dir, want string }{
		{"duration", "asc", fmt.Sprint([]string{hexTrace(traceC), hexTrace(traceA), hexTrace(traceB)})},
		{"duration", "desc", fmt.Sprint([]string{hexTrace(traceB), hexTrace(traceA), hexTrace(traceC)})},
		{"span_count", "desc", fmt.Sprint([]string{hexTrace(traceC), hexTrace(traceA), hexTrace(traceB)})},
		{"start_time", "asc", fmt.Sprint([]string{hexTrace(traceA), hexTrace(traceB), hexTrace(traceC)})},
	} {
		var got []string
		v := e.query("sort", tt.sort, "sortDirection", tt.dir, "limit", "1")
		for i := 0; i < 5; i++ {
			p := e.traces(t, e.acme, v)
			for _, tr := range p.Traces {
				got = append(got, tr.TraceID)
			}
			if p.NextCursor == "" {
				break
			}
			v.Set("cursor", p.NextCursor)
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("traces by %s %s = %v, want %s", tt.sort, tt.dir, got, tt.want)
		}
	}
}

func TestTraceByID(t *testing.T) {
	e := startSearchEnv(t)
	var tr fetch.TraceDetail
	a := hexTrace(traceA)
	if status := getJSON(t, e.base+"/telemetry/traces/"+a, e.acme, &tr); status != http.StatusOK {
		t.Fatalf("trace A: status %d", status)
	}
	if tr.TraceID != a || tr.SpanCount != 2 || len(tr.Spans) != 2 || tr.Truncated {
		t.Fatalf("trace A = %+v", tr)
	}
	root, child := tr.Spans[0], tr.Spans[1]
	if root.Name != "GET /orders" || child.Name != "SELECT orders" || child.ParentSpanID != root.SpanID {
		t.Errorf("spans out of order or wrong: %s, %s", root.Name, child.Name)
	}
	if len(root.Events) != 0 || len(root.Links) != 0 {
		t.Errorf("root events %v links %v", root.Events, root.Links)
	}
	if len(child.Events) != 1 || child.Events[0].Name != "retry" || child.Events[0].Attributes["attempt"] != "2" ||
		!child.Events[0].Time.Equal(e.t0.Add(20*time.Millisecond)) {
		t.Errorf("child events = %+v", child.Events)
	}
	if len(child.Links) != 1 || child.Links[0].TraceID != hexTrace(traceB) || child.Links[0].TraceState != "k=v" ||
		child.Links[0].Attributes["why"] != "caused-by" || child.Links[0].SpanID != "bb01010000000000" {
		t.Errorf("child links = %+v", child.Links)
	}
	// Upper-case ids are the same trace; the other tenant's span in trace A is not shown.
	var upper fetch.TraceDetail
	if getJSON(t, e.base+"/telemetry/traces/AA0102030405060708090A0B0C0D0E0F", e.acme, &upper); upper.SpanCount != 2 {
		t.Errorf("upper-case id: %d spans", upper.SpanCount)
	}
	var theirs fetch.TraceDetail
	if getJSON(t, e.base+"/telemetry/traces/"+a, e.globex, &theirs); theirs.SpanCount != 1 || theirs.Spans[0].Name != "secret in A" {
		t.Errorf("globex's view of trace A = %+v", theirs)
	}
	for _, tt := range []struct {
		name, id string
		want     int
	}{
		{"unknown", "00000000000000000000000000000001", http.StatusNotFound},
		{"another tenant's", hexTrace(traceG), http.StatusNotFound},
		{"short", "abc", http.StatusBadRequest},
		{"not hex", "zz0102030405060708090a0b0c0d0e0f", http.StatusBadRequest},
		{"injection", url.PathEscape("') OR 1=1 --aaaaaaaaaaaaaaaaaaa"), http.StatusBadRequest},
	} {
		var body map[string]string
		req, _ := http.NewRequest(http.MethodGet, e.base+"/telemetry/traces/"+tt.id, nil)
		req.Header.Set("Authorization", "Bearer "+e.acme)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || body["error"] == "" {
			t.Errorf("%s trace id: status %d body %v, want %d", tt.name, resp.StatusCode, body, tt.want)
		}
		if tt.want == http.StatusNotFound && body["error"] != "trace not found" {
			t.Errorf("%s: body %v", tt.name, body)
		}
	}
	// Spans written before the trace index existed are found without it.
	if err := e.s.ch.Exec(context.Background(), "TRUNCATE TABLE trace_index"); err != nil {
		t.Fatal(err)
	}
	var again fetch.TraceDetail
	if status := getJSON(t, e.base+"/telemetry/traces/"+a, e.acme, &again); status != http.StatusOK || again.SpanCount != 2 {
		t.Errorf("trace A without its index entry: status %d, %d spans", status, again.SpanCount)
	}
}

func TestSearchInjectionIsInert(t *testing.T) {
	e := startSearchEnv(t)
	evils := []string{"'", `\`, `\'`, "') OR 1=1 --", "' OR tenant_id != '", "ü✓\u202e", "\x00", "1; DROP TABLE spans"}
	// Free-text filters bind the value: the answer is an empty result. Everything else
	// is validated: the answer is 400.
	params := map[string]bool{"service_name": true, "name": true, "name_contains": true, "attr.http.method": true,
		"start_time": false, "end_time": false, "limit": false, "offset": false, "cursor": false, "sort": false,
		"sortDirection": false, "status": false, "trace_id": false, "min_duration_ms": false, "max_duration_ms": false}
	for _, evil := range evils {
		for param, freeText := range params {
			v := e.query()
			v.Set(param, evil)
			for _, path := range []string{"/telemetry/fetch_spans", "/telemetry/fetch_traces"} {
				var p struct {
					TotalCount uint64 `json:"total_count"`
				}
				status := getJSON(t, e.base+path+"?"+v.Encode(), e.acme, &p)
				switch {
				case freeText && (status != http.StatusOK || p.TotalCount != 0):
					t.Errorf("%s %s=%q: status %d, %d matches; want 200 and none", path, param, evil, status, p.TotalCount)
				case !freeText && status != http.StatusBadRequest:
					t.Errorf("%s %s=%q: status %d, want 400", path, param, evil, status)
				}
			}
		}
		// An attribute key is bound too.
		if p := e.spans(t, e.acme, e.query("attr."+evil, "x")); p.TotalCount != 0 {
			t.Errorf("attr.%q matched %d spans", evil, p.TotalCount)
		}
	}
	// Nothing was dropped or leaked: both tenants still see exactly their own spans.
	if p := e.spans(t, e.acme, e.query("limit", "1000")); p.TotalCount != acmeSpans {
		t.Errorf("acme now sees %d spans", p.TotalCount)
	} else {
		for _, s := range p.Spans {
			if s.Name == "secret" || s.Name == "secret in A" {
				t.Errorf("acme sees globex's span %q", s.Name)
			}
		}
	}
	if p := e.spans(t, e.globex, e.query()); p.TotalCount != 2 {
		t.Errorf("globex now sees %d spans", p.TotalCount)
	}
}
