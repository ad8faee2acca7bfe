package fetch

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestParseTail(t *testing.T) {
	cfg := stream.DefaultConfig()
	tests := []struct {
		name, query, header string
		wantErr             string
		want                tailParams
		subjects            []string
		policy              jetstream.DeliverPolicy
	}{
		{name: "defaults", want: tailParams{}, subjects: []string{"telemetry.>"}, policy: jetstream.DeliverNewPolicy},
		{name: "comma list and repeat", query: "signal=traces,LOGS&signal=logs&service_name=api",
			want:     tailParams{signals: []stream.Signal{"traces", "logs"}, serviceName: "api"},
			subjects: []string{"telemetry.*.traces", "telemetry.*.logs"}, policy: jetstream.DeliverNewPolicy},
		{name: "header resumes", header: "41", query: "last_event_id=7",
			want: tailParams{afterSeq: 41}, subjects: []string{"telemetry.>"}, policy: jetstream.DeliverByStartSequencePolicy},
		{name: "query resumes", query: "last_event_id=7",
			want: tailParams{afterSeq: 7}, subjects: []string{"telemetry.>"}, policy: jetstream.DeliverByStartSequencePolicy},
		{name: "unknown signal", query: "signal=spans", wantErr: "parameter signal"},
		{name: "empty signal", query: "signal=traces,", wantErr: "parameter signal"},
		{name: "bad header id", header: "abc", wantErr: "parameter Last-Event-ID"},
		{name: "zero id", query: "last_event_id=0", wantErr: "parameter last_event_id"},
		{name: "negative id", query: "last_event_id=-3", wantErr: "parameter last_event_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			h := http.Header{}
			if tt.header != "" {
				h.Set("Last-Event-ID", tt.header)
			}
			p, err := parseTail(v, h)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("params = %+v, want %+v", p, tt.want)
			}
			cc := p.consumerConfig(cfg)
			if !reflect.DeepEqual(cc.FilterSubjects, tt.subjects) || cc.DeliverPolicy != tt.policy {
				t.Errorf("consumer = %+v", cc)
			}
			if p.afterSeq > 0 && cc.OptStartSeq != p.afterSeq+1 {
				t.Errorf("start seq %d after id %d", cc.OptStartSeq, p.afterSeq)
			}
		})
	}
}

func TestFormatSSE(t *testing.T) {
	b, err := formatSSE(tailEvent{seq: 42, kind: "spans", items: []Span{{Name: "a\nb", Attributes: map[string]string{"k": "v"}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "id: 42\nevent: spans\ndata: [{") || !strings.HasSuffix(s, "}]\n\n") || strings.Count(s, "\n") != 4 {
		t.Errorf("frame = %q", s)
	}
}

func TestTailSubscriberLimits(t *testing.T) {
	src := &tailSource{perTenant: 2, total: 3, open: map[string]int{}}
	r1, ok1 := src.acquire("a")
	_, ok2 := src.acquire("a")
	_, ok3 := src.acquire("a")
	_, ok4 := src.acquire("b")
	_, ok5 := src.acquire("c")
	if !ok1 || !ok2 || ok3 || !ok4 || ok5 {
		t.Fatalf("acquire = %v %v %v %v %v, want true true false true false", ok1, ok2, ok3, ok4, ok5)
	}
	r1()
	if _, ok := src.acquire("c"); !ok {
		t.Error("a released slot was not given out again")
	}
}

// sseLine is one line of a stream, or the error that ended it.
type sseLine struct {
	text string
	err  error
}

// openSSE starts a tail request; lines arrive on the channel until the body closes.
func openSSE(t *testing.T, rawURL, tenant, lastID string) (*http.Response, <-chan sseLine) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("X-Test-Tenant", tenant)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan sseLine)
	done, finished := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(done)
		resp.Body.Close()
		<-finished
	})
	go func() {
		defer close(finished)
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for {
			l := sseLine{err: io.EOF}
			if sc.Scan() {
				l = sseLine{text: sc.Text()}
			} else if sc.Err() != nil {
				l.err = sc.Err()
			}
			select {
			case lines <- l:
			case <-done:
				return
			}
			if l.err != nil {
				return
			}
		}
	}()
	return resp, lines
}

// nextLine returns the next line that is not blank, failing after a deadline.
func nextLine(t *testing.T, lines <-chan sseLine) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok || l.err != nil {
				t.Fatalf("stream ended: %v", l.err)
			}
			if l.text != "" {
				return l.text
			}
		case <-deadline:
			t.Fatal("no line within 10s")
		}
	}
}

func spansPayload(t *testing.T, service, name string) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetTraceID([16]byte{1})
	sp.SetSpanID([8]byte{2})
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServeTailOverJetStream(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	cfg := stream.DefaultConfig()
	ctx := context.Background()
	if _, err := stream.Ensure(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(js, cfg)
	publish := func(tenant, service, name string) uint64 {
		ack, err := pub.Publish(ctx, stream.Event{Tenant: tenant, Signal: stream.SignalTraces, Payload: spansPayload(t, service, name)})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	a := NewAPI(DefaultConfig(), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithTail(js, cfg))
	a.tail.heartbeat, a.tail.perTenant, a.tail.total = 50*time.Millisecond, 2, 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authn.WithPrincipal(r.Context(), authn.Principal{Tenant: r.Header.Get("X-Test-Tenant")})
		a.serveTail(w, r.WithContext(ctx))
	}))
	defer srv.Close()

	resp, lines := openSSE(t, srv.URL+"?service_name=api", "acme", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if l := nextLine(t, lines); l != ": tail open" {
		t.Fatalf("first line %q", l)
	}
	if l := nextLine(t, lines); l != ": ping" {
		t.Fatalf("heartbeat %q", l)
	}
	publish("globex", "api", "foreign")
	publish("acme", "worker", "filtered out")
	seq := publish("acme", "api", "mine")
	for l := nextLine(t, lines); l != "id: "+strconv.FormatUint(seq, 10); l = nextLine(t, lines) {
		if l != ": ping" {
			t.Fatalf("line %q before the event %d", l, seq)
		}
	}
	if l := nextLine(t, lines); l != "event: spans" {
		t.Fatalf("event line %q", l)
	}
	var spans []Span
	data, _ := strings.CutPrefix(nextLine(t, lines), "data: ")
	if err := json.Unmarshal([]byte(data), &spans); err != nil || len(spans) != 1 || spans[0].Name != "mine" ||
		spans[0].ServiceName != "api" || spans[0].TraceID != "01000000000000000000000000000000" {
		t.Fatalf("data %q: %v", data, err)
	}

	// A second tail of the tenant resumes after an id; a third is refused.
	resp2, lines2 := openSSE(t, srv.URL, "acme", strconv.FormatUint(seq-2, 10))
	nextLine(t, lines2) // ": tail open"
	if l := nextLine(t, lines2); l != "id: "+strconv.FormatUint(seq-1, 10) {
		t.Fatalf("resumed at %q, want id %d", l, seq-1)
	}
	resp3, _ := openSSE(t, srv.URL, "acme", "")
	if resp3.StatusCode != http.StatusTooManyRequests || resp3.Header.Get("Retry-After") == "" {
		t.Errorf("third tail: status %d, Retry-After %q", resp3.StatusCode, resp3.Header.Get("Retry-After"))
	}
	resp.Body.Close()
	resp2.Body.Close()
	// Both slots come back once the handlers see their clients leave.
	testenv.Eventually(t, 10*time.Second, "the tails' slots to be released", func() bool {
		a.tail.mu.Lock()
		defer a.tail.mu.Unlock()
		return a.tail.openAll == 0
	})

	// A new tail starts after the stream's last event, pinned by sequence: it shows the
	// next event and none of the earlier ones.
	resp4, lines4 := openSSE(t, srv.URL, "acme", "")
	defer resp4.Body.Close()
	nextLine(t, lines4) // ": tail open"
	later := publish("acme", "api", "later")
	for l := nextLine(t, lines4); l != "id: "+strconv.FormatUint(later, 10); l = nextLine(t, lines4) {
		if l != ": ping" {
			t.Fatalf("line %q before the event %d published after the tail opened", l, later)
		}
	}

	off := NewAPI(DefaultConfig(), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	off.serveTail(rec, httptest.NewRequest(http.MethodGet, "/telemetry/tail", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("without a stream: status %d, want 503", rec.Code)
	}
}

// TestTailConsumerStartsAtThePinnedSequence: a tail opened without an id reads from the
// sequence pinned when it opened, so a consumer recreated before its first delivery
// cannot skip what arrived meanwhile, as DeliverNew would.
func TestTailConsumerStartsAtThePinnedSequence(t *testing.T) {
	cc := tailParams{fromSeq: 42}.consumerConfig(stream.DefaultConfig())
	if cc.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cc.OptStartSeq != 42 {
		t.Errorf("consumer starts with policy %v at %d, want by start sequence at 42", cc.DeliverPolicy, cc.OptStartSeq)
	}
}
