package persist

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// metricValue is the value of one series m exposes, written as in the text format
// (`name` or `name{label="value"}`); 0 when it is absent.
func metricValue(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// deadLetters is every message of the dead-letter stream by the stream sequence of
// the event it copies.
func (e *env) deadLetters(cfg Config) map[uint64]*jetstream.RawStreamMsg {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, cfg.DeadLetter)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[uint64]*jetstream.RawStreamMsg{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatalf("dead letter %d: %v", seq, err)
		}
		of, err := strconv.ParseUint(m.Header.Get(HeaderDeadSeq), 10, 64)
		if err != nil {
			e.t.Fatalf("dead letter %d without %s: %v", seq, HeaderDeadSeq, m.Header)
		}
		out[of] = m
	}
	return out
}

// drained reports whether every partition's consumer has nothing pending and nothing
// unacknowledged: no event holds a partition.
func (e *env) drained(cfg Config) bool {
	e.t.Helper()
	for k := 0; k < e.scfg.Partitions; k++ {
		c, err := e.js.Consumer(context.Background(), e.scfg.Name, stream.ConsumerName(cfg.Durable, k))
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// partitionOf is the partition of the event stored at seq.
func (e *env) partitionOf(seq uint64) int {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), e.scfg.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := e.scfg.PartitionOfSubject(m.Subject)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// poisonSeed makes the spans named op-666, which the tests' ClickHouse traps refuse.
const poisonSeed = 666

// TestPoisonEventIsDeadLetteredThroughThePipeline publishes an event the way ingest
// does (Nats-Expected-Stream and Nats-Msg-Id set) that ClickHouse refuses: it lands in
// the dead-letter stream with its original headers renamed and the reason, is counted,
// and the events after it in its partition are stored.
func TestPoisonEventIsDeadLetteredThroughThePipeline(t *testing.T) {
	cases := map[string]struct {
		trap       string // makes ClickHouse refuse the spans named op-666
		storedRows uint64 // the poison's rows ClickHouse keeps
		storedIn   string // Telemetry-Dead-Stored
	}{
		"a value ClickHouse refuses": {
			trap: "ALTER TABLE spans ADD COLUMN poison_check UInt8 MATERIALIZED throwIf(name = 'op-666')",
		},
		"a materialized view that throws": {
			trap:       "CREATE MATERIALIZED VIEW poison_view ENGINE = Memory AS SELECT CAST(throwIf(name = 'op-666') AS UInt8) AS refused FROM spans",
			storedRows: 2, // 18.16 writes the table before the view throws
			storedIn:   "spans",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.ch.Exec(context.Background(), tc.trap); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig()
			cfg.Metrics = metrics.New()
			w, _, _ := e.startWorker(cfg)
			poison := e.publish(poisonSeed, 2)
			testenv.Eventually(t, 30*time.Second, "the poison event counted as a dead letter", func() bool {
				return metricValue(t, cfg.Metrics, "telemetryd_persist_dead_letters_total") == 1
			})
			for i := 0; i < 40; i++ { // about ten land behind the poison in its partition
				e.publish(i, 2)
			}
			testenv.Eventually(t, 30*time.Second, "the 40 later events stored", func() bool {
				return e.count("SELECT count() FROM spans WHERE name != 'op-666'") == 80
			})
			k := e.partitionOf(poison)
			if n := e.count("SELECT count() FROM spans WHERE stream_partition = " + strconv.Itoa(k) +
				" AND stream_seq > " + strconv.FormatUint(poison, 10)); n == 0 {
				t.Error("no event behind the poison in its partition was stored")
			}
			testenv.Eventually(t, 10*time.Second, "no partition held", func() bool { return e.drained(cfg) })
			if n := e.count("SELECT count() FROM spans WHERE name = 'op-666'"); n != tc.storedRows {
				t.Errorf("the poison has %d rows, want %d", n, tc.storedRows)
			}
			if w.deadLettered.Load() != 1 || metricValue(t, cfg.Metrics, `telemetryd_persist_dead_letter_failures_total{outcome="redelivered"}`) != 0 {
				t.Errorf("dead-lettered %d events, want 1 and no failure", w.deadLettered.Load())
			}
			dl := e.deadLetters(cfg)[poison]
			if dl == nil {
				t.Fatalf("the poison (seq %d) is not in the dead-letter stream: %v", poison, e.deadLetters(cfg))
			}
			want := map[string]string{
				HeaderDeadOrigPrefix + jetstream.ExpectedStreamHeader: e.scfg.Name,
				HeaderDeadOrigPrefix + jetstream.MsgIDHeader: stream.MessageID("acme", stream.SignalTraces,
					plainPayloadFromStream(t, e, poison)),
				// The payload is copied as stored, compressed, so its encoding goes with it.
				stream.HeaderEncoding: stream.EncodingS2,
				// The copy's own publish: into the dead-letter stream, once per event.
				jetstream.ExpectedStreamHeader: cfg.DeadLetter,
				jetstream.MsgIDHeader:          e.scfg.Name + "-" + strconv.FormatUint(poison, 10),
				stream.HeaderTenant:            "acme",
				stream.HeaderSignal:            string(stream.SignalTraces),
				HeaderDeadStored:               tc.storedIn,
				HeaderDeadSeq:                  strconv.FormatUint(poison, 10),
			}
			for h, v := range want {
				if got := dl.Header.Get(h); got != v {
					t.Errorf("dead letter header %s = %q, want %q", h, got, v)
				}
			}
			if r := dl.Header.Get(HeaderDeadReason); !strings.Contains(r, "throwIf") {
				t.Errorf("dead letter reason %q does not say why", r)
			}
			if !strings.HasSuffix(dl.Subject, "."+dl.Header.Get(HeaderDeadSubject)) || !bytes.Equal(dl.Data, tracesPayloadFromStream(t, e, poison)) {
				t.Errorf("dead letter %s is not a copy of the event", dl.Subject)
			}
		})
	}
}

// tracesPayloadFromStream is the payload of the event stored at seq, as stored
// (S2-compressed with the default publisher).
func tracesPayloadFromStream(t *testing.T, e *env, seq uint64) []byte {
	t.Helper()
	return storedEvent(t, e, seq).Data
}

// plainPayloadFromStream is the OTLP protobuf of the event stored at seq, decompressed
// if it was stored compressed.
func plainPayloadFromStream(t *testing.T, e *env, seq uint64) []byte {
	t.Helper()
	m := storedEvent(t, e, seq)
	var scratch []byte
	p, err := stream.Payload(m.Header.Get(stream.HeaderEncoding), m.Data, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storedEvent is the event stored at seq in the test's stream.
func storedEvent(t *testing.T, e *env, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.scfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDeadLetterFailureIsCountedAndBounded: when the dead-letter stream refuses the
// copy, the event is tried again on later deliveries, then terminated after
// --max-deliver deliveries; each failure is counted, the partition goes on, and the
// event is still in the stream's history.
func TestDeadLetterFailureIsCountedAndBounded(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig()
	cfg.MaxDeliver = 2
	cfg.Metrics = metrics.New()
	w, _, _ := e.startWorker(cfg)
	if err := e.js.DeleteStream(context.Background(), cfg.DeadLetter); err != nil {
		t.Fatal(err)
	}
	ack, err := e.pub.Publish(context.Background(), stream.Event{Tenant: "acme", TokenID: "tok", Signal: stream.SignalTraces,
		Payload: []byte{0xff, 0xff, 0xff}}) // undecodable
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the event terminated after its second delivery", func() bool {
		return metricValue(t, cfg.Metrics, `telemetryd_persist_dead_letter_failures_total{outcome="terminated"}`) == 1
	})
	if n := metricValue(t, cfg.Metrics, `telemetryd_persist_dead_letter_failures_total{outcome="redelivered"}`); n != 1 {
		t.Errorf("%v failures redelivered, want 1 (the first of --max-deliver 2 deliveries)", n)
	}
	for i := 0; i < 40; i++ {
		e.publish(i, 2)
	}
	testenv.Eventually(t, 30*time.Second, "the later events stored", func() bool { return e.count("SELECT count() FROM spans") == 80 })
	testenv.Eventually(t, 10*time.Second, "no partition held", func() bool { return e.drained(cfg) })
	if w.deadLettered.Load() != 0 {
		t.Errorf("%d dead letters counted without a dead-letter stream", w.deadLettered.Load())
	}
	if got := tracesPayloadFromStream(t, e, ack.Sequence); !bytes.Equal(got, []byte{0xff, 0xff, 0xff}) {
		t.Errorf("the terminated event is gone from the stream's history: %x", got)
	}
}

// storedMsg is a jetstream.Msg as a consumer delivers it, for the pure tests.
type storedMsg struct {
	jetstream.Msg // not called
	subject       string
	header        nats.Header
	data          []byte
	seq           uint64
}

func (m storedMsg) Subject() string      { return m.subject }
func (m storedMsg) Headers() nats.Header { return m.header }
func (m storedMsg) Data() []byte         { return m.data }
func (m storedMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: 1}, nil
}

// TestDeadLetterCopyRenamesNatsHeaders: no header JetStream acts on at publish time
// reaches the dead-letter stream under its own name; every one is kept renamed, and
// the event's own headers as they were.
func TestDeadLetterCopyRenamesNatsHeaders(t *testing.T) {
	headers := map[string]string{
		stream.HeaderTenant:                    "acme",
		stream.HeaderSignal:                    string(stream.SignalTraces),
		jetstream.MsgIDHeader:                  "id-1",
		jetstream.ExpectedStreamHeader:         "TELEMETRY",
		jetstream.ExpectedLastSeqHeader:        "41",
		jetstream.ExpectedLastSubjSeqHeader:    "40",
		jetstream.ExpectedLastMsgIDHeader:      "id-0",
		"nats-expected-something-new":          "x",   // any case, any future expectation
		"Nats-Rollup":                          "all", // would purge the dead-letter stream
		"Nats-TTL":                             "1s",  // would expire the copy
		"X-Custom":                             "kept",
		stream.HeaderTraceParent:               "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Telemetry-Dead-Orig-Nats-Msg-Id-Prev": "kept too",
	}
	m := storedMsg{subject: "telemetry.3.traces", header: nats.Header{}, data: []byte("payload"), seq: 42}
	for h, v := range headers {
		m.header[h] = []string{v}
	}
	dl := deadLetterMsg("dlq", m, strings.Repeat("r", 2000), "spans")
	if dl.Subject != "dlq.telemetry.3.traces" || string(dl.Data) != "payload" {
		t.Errorf("copy %s %q", dl.Subject, dl.Data)
	}
	for h, v := range headers {
		if strings.HasPrefix(strings.ToLower(h), "nats-") {
			if _, ok := dl.Header[h]; ok {
				t.Errorf("%s reached the copy", h)
			}
			if g := dl.Header[HeaderDeadOrigPrefix+h]; len(g) != 1 || g[0] != v {
				t.Errorf("%s kept as %v, want %q", h, g, v)
			}
		} else if g := dl.Header.Get(h); g != v {
			t.Errorf("%s = %q, want %q", h, g, v)
		}
	}
	for h := range dl.Header {
		if strings.HasPrefix(strings.ToLower(h), "nats-") {
			t.Errorf("the copy carries %s", h)
		}
	}
	if r := dl.Header.Get(HeaderDeadReason); len(r) != 1024 {
		t.Errorf("reason of %d bytes, want it cut to 1024", len(r))
	}
	if dl.Header.Get(HeaderDeadSeq) != "42" || dl.Header.Get(HeaderDeadSubject) != m.subject || dl.Header.Get(HeaderDeadStored) != "spans" {
		t.Errorf("dead letter headers %v", dl.Header)
	}
}
