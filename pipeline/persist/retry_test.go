package persist

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// duplicates is the number of rows of table beyond one per (stream_seq, key): a row
// stored twice counts once.
func (e *env) duplicates(table, key string) uint64 {
	e.t.Helper()
	return e.count("SELECT toUInt64(sum(c - 1)) FROM (SELECT count() AS c FROM " + table + " GROUP BY stream_seq, " + key + ")")
}

// TestThrowingViewStoresEveryEventOnce: a materialized view throws for one event of a
// batch after ClickHouse 18.16 wrote the batch's rows to the table. No retry writes
// them again: every event is stored exactly once, and the poisoned one (with the
// others of its INSERT, which a view failure cannot be told apart from) is recorded
// in the dead-letter stream as stored.
func TestThrowingViewStoresEveryEventOnce(t *testing.T) {
	e := newEnv(t)
	if err := e.ch.Exec(context.Background(),
		"CREATE MATERIALIZED VIEW poison_view ENGINE = Memory AS SELECT CAST(throwIf(name = 'op-666') AS UInt8) AS refused FROM spans"); err != nil {
		t.Fatal(err)
	}
	// Published before the worker starts, so that the poison shares its batch (and
	// its INSERT) with the innocent events of its partition.
	for i := 0; i < 30; i++ {
		e.publish(i, 2)
	}
	poison := e.publish(poisonSeed, 2)
	for i := 30; i < 60; i++ {
		e.publish(i, 2)
	}
	cfg := testConfig()
	e.startWorker(cfg)
	testenv.Eventually(t, 60*time.Second, "every event handled", func() bool { return e.drained(cfg) })
	if n := e.count("SELECT count() FROM spans WHERE name != 'op-666'"); n != 120 {
		t.Errorf("%d rows of the 60 innocent events, want 120", n)
	}
	if n := e.count("SELECT count() FROM spans WHERE name = 'op-666'"); n != 2 {
		t.Errorf("%d rows of the poison, want the 2 its failed INSERT stored", n)
	}
	if n := e.duplicates("spans", "span_id"); n != 0 {
		t.Errorf("%d rows stored twice", n)
	}
	dead := e.deadLetters(cfg)
	if dead[poison] == nil {
		t.Fatalf("the poison (seq %d) is not in the dead-letter stream", poison)
	}
	for seq, m := range dead {
		if m.Header.Get(HeaderDeadStored) != "spans" || !strings.Contains(m.Header.Get(HeaderDeadReason), "poison_view") {
			t.Errorf("dead letter of seq %d: %v", seq, m.Header)
		}
	}
	t.Logf("%d events recorded as dead letters with the poison", len(dead)-1)
}

// insertFailures counts the worker's log lines about a failed INSERT.
type insertFailures struct{ n atomic.Int64 }

func (f *insertFailures) Enabled(context.Context, slog.Level) bool { return true }
func (f *insertFailures) WithAttrs([]slog.Attr) slog.Handler       { return f }
func (f *insertFailures) WithGroup(string) slog.Handler            { return f }
func (f *insertFailures) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "insert failed") {
		f.n.Add(1)
	}
	return nil
}

// logsPayload is an OTLP logs request of n records with body log-<seed>-<i>.
func logsPayload(t *testing.T, seed, n int) []byte {
	t.Helper()
	return payload(t, stream.SignalLogs, seed, n)
}

// TestFailedLaterInsertIsNotWrittenTwice: a batch is written with several INSERTs
// (one per table, several per table above MaxBatchRows). When a later one fails, the
// retry writes neither the INSERTs that succeeded again nor what the failed one
// stored.
func TestFailedLaterInsertIsNotWrittenTwice(t *testing.T) {
	cases := map[string]struct {
		fault    string // fails the INSERTs holding op-666 spans or log-666 records
		heal     string // ends the fault ("" when it needs no healing)
		signal   stream.Signal
		wantDead bool // the failure came after the table took the rows
	}{
		"a later INSERT of the same table, refused until healed": {
			fault:  "ALTER TABLE spans ADD COLUMN poison_check UInt8 MATERIALIZED throwIf(name = 'op-666')",
			heal:   "ALTER TABLE spans DROP COLUMN poison_check",
			signal: stream.SignalTraces,
		},
		"the logs INSERT after the spans INSERT, refused by a view": {
			fault:    "CREATE MATERIALIZED VIEW poison_view ENGINE = Memory AS SELECT throwIf(body LIKE 'log-666-%') AS refused FROM logs",
			signal:   stream.SignalLogs,
			wantDead: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.ch.Exec(context.Background(), tc.fault); err != nil {
				t.Fatal(err)
			}
			// One partition: every event of the test in one batch.
			e.scfg.Partitions = 1
			e.pub = stream.NewPublisher(e.js, e.scfg)
			// Each event has 2 rows and an INSERT holds at most 2: one INSERT per event.
			// Spans and logs of a batch are written spans first.
			publish := func(seed int) uint64 {
				if tc.signal == stream.SignalLogs {
					e.publish(seed, 2)
					return e.publishSignal(stream.SignalLogs, seed, 2)
				}
				return e.publish(seed, 2)
			}
			for i := 0; i < 20; i++ {
				publish(i)
			}
			faulty := publish(poisonSeed)
			for i := 20; i < 40; i++ {
				publish(i)
			}
			cfg := testConfig()
			cfg.MaxBatchRows = 2
			cfg.MaxDeliver = 1000 // retried, never isolated, until healed
			failures := &insertFailures{}
			e.startWorkerLogging(cfg, slog.New(failures))
			if tc.heal != "" {
				testenv.Eventually(t, 30*time.Second, "two failed INSERTs", func() bool { return failures.n.Load() >= 2 })
				if err := e.ch.Exec(context.Background(), tc.heal); err != nil {
					t.Fatal(err)
				}
			}
			testenv.Eventually(t, 60*time.Second, "every event handled", func() bool { return e.drained(cfg) })
			if n := e.count("SELECT count() FROM spans"); n != uint64(2*41) {
				t.Errorf("%d span rows, want %d", n, 2*41)
			}
			if n := e.duplicates("spans", "span_id"); n != 0 {
				t.Errorf("%d span rows stored twice", n)
			}
			if tc.signal == stream.SignalLogs {
				if n := e.count("SELECT count() FROM logs"); n != uint64(2*41) {
					t.Errorf("%d log rows, want %d", n, 2*41)
				}
				if n := e.duplicates("logs", "body"); n != 0 {
					t.Errorf("%d log rows stored twice", n)
				}
			}
			dead := e.deadLetters(cfg)
			if got := dead[faulty] != nil; got != tc.wantDead {
				t.Errorf("faulty event dead-lettered: %v, want %v (%d dead letters)", got, tc.wantDead, len(dead))
			}
			if !tc.wantDead && len(dead) != 0 {
				t.Errorf("%d dead letters, want none", len(dead))
			}
		})
	}
}

// TestLookupFindsStoredEventsOfEveryTable: the look-up before a retry finds the
// stored events of each table and only those, whatever their rows' timestamps,
// including none (zero). Times a DateTime cannot hold never reach it: the decoders
// refuse them (TestDecodersRefuseValuesTheTablesCannotHold).
func TestLookupFindsStoredEventsOfEveryTable(t *testing.T) {
	ch := rtDatabase(t)
	now := time.Now()
	times := map[string][]time.Time{
		"now":                    {now},
		"a day apart":            {now, now.Add(-24 * time.Hour)},
		"the last day it holds":  {now, time.Date(2105, 12, 31, 23, 0, 0, 0, time.UTC)},
		"unset (the Unix epoch)": {time.Unix(0, 0)},
	}
	build := map[stream.Signal]func(t *testing.T, at []time.Time) []byte{
		stream.SignalTraces:  func(t *testing.T, at []time.Time) []byte { return rtSpansAt(t, at...) },
		stream.SignalLogs:    logsAt,
		stream.SignalMetrics: metricsAt,
	}
	seq := uint64(100)
	for signal, payloadAt := range build {
		for name, at := range times {
			t.Run(string(signal)+"/"+name, func(t *testing.T) {
				tbl := tables[signal]
				var stored, fresh []*event
				for i := 0; i < 3; i++ {
					seq++
					rows, err := tbl.decode(payloadAt(t, at), eventMeta{tenant: "acme", seq: seq})
					if err != nil {
						t.Fatal(err)
					}
					ev := &event{seq: seq, tenant: "acme", table: tbl, rows: rows}
					if i < 2 {
						stored = append(stored, ev)
					} else {
						fresh = append(fresh, ev)
					}
				}
				if err := targetOf(t, ch).insert(context.Background(), tbl, stored); err != nil {
					t.Fatal(err)
				}
				kept, found, err := splitStored(context.Background(), ch, 10*time.Second, append(fresh, stored...), true)
				if err != nil {
					t.Fatal(err)
				}
				if len(found) != len(stored) || len(kept) != 1 || kept[0].seq != fresh[0].seq {
					t.Errorf("found %d stored of %d, kept %d", len(found), len(stored), len(kept))
				}
			})
		}
	}
}

// logsAt is an OTLP logs request with one record at each time.
func logsAt(t *testing.T, at []time.Time) []byte {
	t.Helper()
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i, ts := range at {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(nanos(ts))
		lr.Body().SetStr("at-" + strconv.Itoa(i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metricsAt is an OTLP metrics request with one gauge point at each time.
func metricsAt(t *testing.T, at []time.Time) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("g")
	points := m.SetEmptyGauge().DataPoints()
	for i, ts := range at {
		dp := points.AppendEmpty()
		dp.SetTimestamp(nanos(ts))
		dp.SetIntValue(int64(i))
	}
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nanos is ts as an OTLP timestamp; before the epoch it wraps as a uint64 does.
func nanos(ts time.Time) pcommon.Timestamp { return pcommon.Timestamp(uint64(ts.UnixNano())) }
