package persist

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// payload is an OTLP request of signal with n records, unique per seed.
func payload(t *testing.T, signal stream.Signal, seed, n int) []byte {
	t.Helper()
	now := pcommon.NewTimestampFromTime(time.Now())
	var b []byte
	var err error
	switch signal {
	case stream.SignalTraces:
		return tracesPayload(t, seed, n)
	case stream.SignalLogs:
		ld := plog.NewLogs()
		sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
		for i := 0; i < n; i++ {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(now)
			lr.Body().SetStr("log-" + strconv.Itoa(seed) + "-" + strconv.Itoa(i))
		}
		b, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	case stream.SignalMetrics:
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("gauge-" + strconv.Itoa(seed))
		dps := m.SetEmptyGauge().DataPoints()
		for i := 0; i < n; i++ {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(now)
			dp.SetIntValue(int64(i))
		}
		b, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) publishSignal(signal stream.Signal, seed, n int) uint64 {
	e.t.Helper()
	ack, err := e.pub.Publish(context.Background(), stream.Event{Tenant: "acme", TokenID: "tok", Signal: signal,
		Payload: payload(e.t, signal, seed, n)})
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

var replayTables = []string{"spans", "logs", "metric_points"}

// tableCounts is the number of rows per table, optionally of the events from seq on.
func tableCounts(t *testing.T, ch driver.Conn, fromSeq uint64) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, name := range replayTables {
		var n uint64
		if err := ch.QueryRow(context.Background(), "SELECT count() FROM "+name+" WHERE stream_seq >= ?", fromSeq).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

func freshDatabase(t *testing.T) driver.Conn {
	t.Helper()
	dsn := testenv.ClickHouseDSN(t)
	if err := schema.Migrate(context.Background(), dsn, discard()); err != nil {
		t.Fatal(err)
	}
	return testenv.ClickHouse(t, dsn)
}

func equalCounts(a, b map[string]uint64) bool {
	for _, name := range replayTables {
		if a[name] != b[name] {
			return false
		}
	}
	return true
}

func TestReplayRebuildsTheProjection(t *testing.T) {
	e := newEnv(t)
	signals := []stream.Signal{stream.SignalTraces, stream.SignalLogs, stream.SignalMetrics}
	for i := 0; i < 30; i++ {
		e.publishSignal(signals[i%3], i, 1+i%4)
	}
	// A poison event: the worker dead-letters it, replay skips it.
	poison := nats.NewMsg(e.scfg.Subject(2, stream.SignalLogs))
	poison.Data = []byte{0xff, 0xff}
	poison.Header.Set(stream.HeaderTenant, "acme")
	poison.Header.Set(stream.HeaderSignal, string(stream.SignalLogs))
	if _, err := e.js.PublishMsg(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	secondHalf := uint64(0)
	for i := 30; i < 60; i++ {
		seq := e.publishSignal(signals[i%3], i, 1+i%4)
		if secondHalf == 0 {
			secondHalf = seq
		}
	}
	// The stream's own stamp on the first later event: each publish waited for
	// the previous ack, so every earlier event carries an earlier stamp.
	since := testenv.StoredAt(t, e.js, e.scfg.Name, secondHalf)
	w, _, stop := e.startWorker(testConfig())
	testenv.Eventually(t, 20*time.Second, "every event persisted", func() bool { return w.persisted.Load() == 60 && w.deadLettered.Load() == 1 })
	stop()
	want := tableCounts(t, e.ch, 0)
	for _, name := range replayTables {
		if want[name] == 0 {
			t.Fatalf("the worker stored no %s rows: %v", name, want)
		}
	}

	cfg := DefaultReplayConfig()
	cfg.MaxBatchEvents = 7 // several batches
	cfg.MaxBatchWait = 100 * time.Millisecond
	var calls int
	cfg.Progress = func(ReplayStats) { calls++ }
	replay := func(ch driver.Conn, cfg ReplayConfig) ReplayStats {
		t.Helper()
		st, err := Replay(context.Background(), e.js, targetOf(t, ch), cfg, discard())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Done || st.Seq != st.LastSeq || st.LastSeq != 61 {
			t.Errorf("replay ended at %+v, want done at seq 61", st)
		}
		return st
	}

	fresh := freshDatabase(t)
	st := replay(fresh, cfg)
	if got := tableCounts(t, fresh, 0); !equalCounts(got, want) {
		t.Errorf("replay into an empty database: %v rows, want %v", got, want)
	}
	if st.Events != 61 || st.Skipped != 1 || st.Stored != 0 || st.Rows != want["spans"]+want["logs"]+want["metric_points"] {
		t.Errorf("stats %+v", st)
	}
	if calls < 61/7 {
		t.Errorf("progress reported %d times over 9 batches", calls)
	}

	// Again, into the now full database, and into the worker's: nothing written twice.
	for name, ch := range map[string]driver.Conn{"replayed": fresh, "worker's": e.ch} {
		st = replay(ch, cfg)
		if got := tableCounts(t, ch, 0); !equalCounts(got, want) {
			t.Errorf("replay into the %s database: %v rows, want %v", name, got, want)
		}
		if st.Rows != 0 || st.Stored != 60 || st.Skipped != 1 {
			t.Errorf("replay into the %s database: stats %+v", name, st)
		}
	}

	// From a time: only the later events.
	cfg.FromSeq, cfg.Since = 0, since
	later := freshDatabase(t)
	st = replay(later, cfg)
	if got, want := tableCounts(t, later, 0), tableCounts(t, e.ch, secondHalf); !equalCounts(got, want) {
		t.Errorf("replay --since: %v rows, want %v", got, want)
	}
	if st.Events != 30 {
		t.Errorf("replay --since read %d events, want 30", st.Events)
	}
}

func TestReplayOfAnEmptyRange(t *testing.T) {
	e := newEnv(t)
	e.publish(1, 2)
	cfg := DefaultReplayConfig()
	cfg.MaxBatchWait = 100 * time.Millisecond
	for name, mod := range map[string]func(*ReplayConfig){
		"after the last sequence": func(c *ReplayConfig) { c.FromSeq = 5 },
		"after the last event":    func(c *ReplayConfig) { c.FromSeq, c.Since = 0, time.Now().Add(time.Hour) },
	} {
		c := cfg
		mod(&c)
		st, err := Replay(context.Background(), e.js, e.target, c, discard())
		if err != nil || !st.Done || st.Events != 0 {
			t.Errorf("%s: %+v, %v", name, st, err)
		}
	}
	if n := e.count("SELECT count() FROM spans"); n != 0 {
		t.Errorf("%d rows written", n)
	}
}

// TestReplayWritesNothingTwiceWhenClickHouseRefuses: replay writes the events of a
// rejected INSERT one at a time, skipping the refused one, and never writes again
// what the table took before a view threw.
func TestReplayWritesNothingTwiceWhenClickHouseRefuses(t *testing.T) {
	cases := map[string]struct {
		trap        string
		poisonRows  uint64
		wantSkipped uint64
	}{
		"a value ClickHouse refuses": {
			trap:        "ALTER TABLE spans ADD COLUMN poison_check UInt8 MATERIALIZED throwIf(name = 'op-666')",
			wantSkipped: 1,
		},
		"a materialized view that throws": {
			trap:       "CREATE MATERIALIZED VIEW poison_view ENGINE = Memory AS SELECT CAST(throwIf(name = 'op-666') AS UInt8) AS refused FROM spans",
			poisonRows: 2, // stored before the view threw
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			for i := 0; i < 20; i++ {
				e.publish(i, 2)
			}
			e.publish(poisonSeed, 2)
			for i := 20; i < 40; i++ {
				e.publish(i, 2)
			}
			if err := e.ch.Exec(context.Background(), tc.trap); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultReplayConfig()
			cfg.MaxBatchWait = 100 * time.Millisecond
			st, err := Replay(context.Background(), e.js, e.target, cfg, discard())
			if err != nil {
				t.Fatal(err)
			}
			if n := e.count("SELECT count() FROM spans WHERE name != 'op-666'"); n != 80 {
				t.Errorf("%d rows of the 40 innocent events, want 80", n)
			}
			if n := e.count("SELECT count() FROM spans WHERE name = 'op-666'"); n != tc.poisonRows {
				t.Errorf("%d rows of the refused event, want %d", n, tc.poisonRows)
			}
			if n := e.duplicates("spans", "span_id"); n != 0 {
				t.Errorf("%d rows written twice", n)
			}
			if st.Skipped != tc.wantSkipped || st.Rows != 80+tc.poisonRows {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
