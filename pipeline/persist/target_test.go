package persist

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// tableText is every row of a table, each as ClickHouse formats its columns, sorted.
func tableText(t *testing.T, ch driver.Conn, table string) []string {
	t.Helper()
	rows, err := ch.Query(context.Background(), "SELECT toString(tuple(*)) AS r FROM "+table+" ORDER BY r")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInsertPathsStoreTheSameRows: the ch-go path the server gets and clickhouse-go's
// batches store the same rows, every column of every signal.
func TestInsertPathsStoreTheSameRows(t *testing.T) {
	batchDB, columnarDB := rtDatabase(t), rtDatabase(t)
	batch, columnar := BatchTarget(batchDB), targetOf(t, columnarDB)
	if columnar.Path() == PathBatch {
		t.Fatalf("OpenTarget chose %s on one server", columnar.Path())
	}
	payloads := map[stream.Signal][]byte{
		stream.SignalTraces:  marshal(t, richTraces()),
		stream.SignalLogs:    richLogs(t),
		stream.SignalMetrics: everyMetricType(t),
	}
	for signal, p := range payloads {
		tbl := tables[signal]
		var events []*event
		for seq := uint64(1); seq <= 3; seq++ { // several events in one INSERT
			rows, err := tbl.decode(p, eventMeta{tenant: "acme", tokenID: "tok", seq: seq, partition: 2})
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, &event{seq: seq, table: tbl, rows: rows})
		}
		for _, target := range []*Target{batch, columnar} {
			if err := target.insert(context.Background(), tbl, events); err != nil {
				t.Fatalf("%s into %s: %v", target.Path(), tbl.name, err)
			}
			// The block is reused: a second INSERT must hold its own rows only.
			if err := target.insert(context.Background(), tbl, events[:1]); err != nil {
				t.Fatalf("%s into %s: %v", target.Path(), tbl.name, err)
			}
		}
		want, got := tableText(t, batchDB, tbl.name), tableText(t, columnarDB, tbl.name)
		if len(want) != 4*events[0].rows.len() {
			t.Fatalf("%s: %d rows by clickhouse-go, want %d", tbl.name, len(want), 4*events[0].rows.len())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s stored\n%s\nclickhouse-go stored\n%s", tbl.name, columnar.Path(),
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestOpenTargetChoosesThePathByServer: ch-go at the client's revision on servers that
// read client info as ch-go writes it, at legacyRevision on older ones, and
// clickhouse-go on an older cluster, which must send insert_distributed_sync.
func TestOpenTargetChoosesThePathByServer(t *testing.T) {
	ch := rtDatabase(t)
	sv, err := ch.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	legacy := int(sv.Revision) < int(proto.FeatureClientWriteInfo)
	for _, cluster := range []bool{false, true} {
		target, err := OpenTarget(context.Background(), ch, TargetOptions{Addr: testenv.ClickHouseAddr(t), Database: "default", Cluster: cluster, MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(target.Close)
		want := PathColumnar
		switch {
		case legacy && cluster:
			want = PathBatch
		case legacy:
			want = PathColumnarLegacy
		}
		if target.Path() != want {
			t.Errorf("server revision %d, cluster %v: path %s, want %s", sv.Revision, cluster, target.Path(), want)
		}
	}
}

// TestInsertAfterARefusedInsert: an INSERT ClickHouse refuses midway leaves its ch-go
// connection out of step with the server; the next INSERTs must not go over it.
func TestInsertAfterARefusedInsert(t *testing.T) {
	db := rtDatabase(t)
	if err := db.Exec(context.Background(), "ALTER TABLE spans ADD COLUMN poison_check UInt8 MATERIALIZED throwIf(name = 'op-666')"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	target, err := OpenTarget(context.Background(), db, TargetOptions{Addr: testenv.ClickHouseAddr(t), Database: name, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	tbl := tables[stream.SignalTraces]
	insert := func(seed int) error {
		rows, err := tbl.decode(tracesPayload(t, seed, 2), wireMeta)
		if err != nil {
			t.Fatal(err)
		}
		return target.insert(context.Background(), tbl, []*event{{seq: uint64(seed), table: tbl, rows: rows}})
	}
	if err := insert(poisonSeed); !isDataError(err) {
		t.Fatalf("poison INSERT: %v, want a rejection of the data", err)
	}
	for seed := 1; seed <= 3; seed++ {
		if err := insert(seed); err != nil {
			t.Fatalf("INSERT %d after the refused one: %v", seed, err)
		}
	}
}

// TestInsertIntoTakesTheTargetsPath: the load harness's raw probe writes decoded
// payloads the way the workers do, through either path.
func TestInsertIntoTakesTheTargetsPath(t *testing.T) {
	db := rtDatabase(t)
	var rows []Rows
	for seq := uint64(1); seq <= 2; seq++ {
		r, err := DecodePayload(stream.SignalLogs, richLogs(t), "acme", seq)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if err := targetOf(t, db).InsertInto(context.Background(), "logs", rows); err != nil {
		t.Fatal(err)
	}
	if err := InsertInto(context.Background(), db, "logs", rows); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := db.QueryRow(context.Background(), "SELECT count() FROM logs WHERE tenant_id = 'acme'").Scan(&n); err != nil || n != 8 {
		t.Fatalf("%d rows (%v), want 8", n, err)
	}
}

// TestInsertStreamsBlocks: an INSERT larger than one block is streamed as several and
// stores each row once, the last block included (ch-go sends what its input still holds
// after the callback's io.EOF), and the server squashes the blocks into one part per
// partition, as it would one block.
func TestInsertStreamsBlocks(t *testing.T) {
	db := rtDatabase(t)
	target := targetOf(t, db)
	if target.Path() == PathBatch {
		t.Fatalf("OpenTarget chose %s on one server", target.Path())
	}
	tbl := tables[stream.SignalTraces]
	payload := marshal(t, richTraces())
	var events []*event
	total := 0
	for seq := uint64(1); total < 3*insertBlockRows+1; seq++ {
		rows, err := tbl.decode(payload, eventMeta{tenant: "acme", tokenID: "tok", seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		events, total = append(events, &event{seq: seq, table: tbl, rows: rows}), total+rows.len()
	}
	if err := target.insert(context.Background(), tbl, events); err != nil {
		t.Fatal(err)
	}
	var rows, seqs, wrong uint64
	perEvent := events[0].rows.len()
	if err := db.QueryRow(context.Background(), "SELECT uniqExact(stream_seq), countIf(n != ?) FROM (SELECT stream_seq, count() AS n FROM spans GROUP BY stream_seq)",
		perEvent).Scan(&seqs, &wrong); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(context.Background(), "SELECT count() FROM spans").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != uint64(total) || seqs != uint64(len(events)) || wrong != 0 {
		t.Fatalf("stored %d rows of %d events, %d events without exactly %d rows; want %d rows of %d events, each once",
			rows, seqs, wrong, perEvent, total, len(events))
	}
	var parts, partitions uint64
	if err := db.QueryRow(context.Background(), "SELECT count(), uniqExact(partition) FROM system.parts WHERE database = currentDatabase() AND table = 'spans' AND active").Scan(&parts, &partitions); err != nil {
		t.Fatal(err)
	}
	if parts != partitions {
		t.Errorf("one INSERT of %d blocks made %d parts in %d partitions; want the blocks squashed into one part each", (total+insertBlockRows-1)/insertBlockRows, parts, partitions)
	}
}

// TestInsertsAreNotQueuedServerSide: current ClickHouse servers make INSERTs
// asynchronous by default (async_insert = 1): the server holds each in a queue for up
// to 200 ms and flushes the INSERTs that met there together, so one batch's bad row
// fails the others' INSERTs too. Persist's batches are already large and each waits for
// its INSERT, so the workers' INSERTs switch the queue off. The test server (chDB) has
// no queue, so the setting is read back from what the INSERT stored: a MATERIALIZED
// column is computed in the INSERT's own settings.
func TestInsertsAreNotQueuedServerSide(t *testing.T) {
	db := rtDatabase(t)
	var known uint64
	if err := db.QueryRow(context.Background(), "SELECT countIf(name = 'async_insert') FROM system.settings").Scan(&known); err != nil {
		t.Fatal(err)
	}
	if known == 0 {
		t.Skip("this server has no asynchronous INSERTs") // 18.16; CI runs the suite on 26.7 too
	}
	var serverDefault bool
	if err := db.QueryRow(context.Background(), "SELECT toBool(getSetting('async_insert'))").Scan(&serverDefault); err != nil {
		t.Fatal(err)
	}
	if !serverDefault {
		t.Fatal("the server's own default is async_insert = 0: this test would not notice a worker INSERT that left it on")
	}
	if err := db.Exec(context.Background(), "ALTER TABLE spans ADD COLUMN queued UInt8 MATERIALIZED toUInt8(getSetting('async_insert'))"); err != nil {
		t.Fatal(err)
	}
	target := targetOf(t, db)
	if target.Path() != PathColumnar {
		t.Fatalf("OpenTarget chose %s on a current server", target.Path())
	}
	tbl := tables[stream.SignalTraces]
	rows, err := tbl.decode(tracesPayload(t, 1, 2), wireMeta)
	if err != nil {
		t.Fatal(err)
	}
	if err := target.insert(context.Background(), tbl, []*event{{seq: 1, table: tbl, rows: rows}}); err != nil {
		t.Fatal(err)
	}
	var n, queued uint64
	if err := db.QueryRow(context.Background(), "SELECT count(), countIf(queued = 1) FROM spans").Scan(&n, &queued); err != nil {
		t.Fatal(err)
	}
	if n != 2 || queued != 0 {
		t.Errorf("%d rows stored, %d of them by an INSERT with async_insert = 1; want 2, none", n, queued)
	}
}

// TestInsertDecodesAsItSends: a worker's events are decoded block by block while their
// INSERT is sent, so the columns hold about one block, not the batch. An INSERT stops
// at maxRows with whole events, the next takes the rest, and an event that cannot be
// decoded is taken, left out and marked; every other event is stored once, whole. Both
// INSERT paths: ch-go blocks and clickhouse-go batches.
func TestInsertDecodesAsItSends(t *testing.T) {
	for _, path := range []InsertPath{PathColumnar, PathBatch} {
		t.Run(string(path), func(t *testing.T) {
			db := rtDatabase(t)
			target := BatchTarget(db)
			if path != PathBatch {
				if target = targetOf(t, db); target.Path() == PathBatch {
					t.Fatalf("OpenTarget chose %s on one server", target.Path())
				}
			}
			tbl := tables[stream.SignalTraces]
			payload := marshal(t, richTraces())
			probe, err := tbl.decode(payload, wireMeta)
			if err != nil {
				t.Fatal(err)
			}
			perEvent := probe.len()
			var events []*event
			for seq := uint64(1); len(events)*perEvent < 3*insertBlockRows+1; seq++ {
				meta := eventMeta{tenant: "acme", tokenID: "tok", seq: seq}
				events = append(events, &event{seq: seq, tenant: "acme", table: tbl, meta: meta, payload: payload})
			}
			bad := &event{seq: 999_999, tenant: "acme", table: tbl, payload: []byte{0xff, 0xff, 0xff},
				meta: eventMeta{tenant: "acme", seq: 999_999}}
			events = append(events[:3], append([]*event{bad}, events[3:]...)...)
			good := len(events) - 1

			// The first INSERT takes the events whose rows fit in maxRows (and the bad one
			// among them); the second takes the rest.
			fit := 2*insertBlockRows/perEvent + 1
			maxRows := fit*perEvent + perEvent/2
			first, err := target.insertSome(context.Background(), tbl, events, maxRows)
			if err != nil {
				t.Fatal(err)
			}
			if first != fit+1 {
				t.Fatalf("the first INSERT took %d events, want %d (%d of %d rows each, and the bad one)", first, fit+1, fit, perEvent)
			}
			rest, err := target.insertSome(context.Background(), tbl, events[first:], math.MaxInt)
			if err != nil {
				t.Fatal(err)
			}
			if first+rest != len(events) {
				t.Fatalf("the INSERTs took %d and %d events of %d", first, rest, len(events))
			}
			if bad.bad == nil {
				t.Error("the undecodable event is not marked")
			}
			var rows, seqs, wrong, badRows uint64
			if err := db.QueryRow(context.Background(), "SELECT sum(n), uniqExact(stream_seq), countIf(n != ?), countIf(stream_seq = ?) FROM (SELECT stream_seq, count() AS n FROM spans GROUP BY stream_seq)",
				perEvent, bad.seq).Scan(&rows, &seqs, &wrong, &badRows); err != nil {
				t.Fatal(err)
			}
			if rows != uint64(good*perEvent) || seqs != uint64(good) || wrong != 0 || badRows != 0 {
				t.Fatalf("stored %d rows of %d events, %d events without exactly %d rows, the bad event %d times; want %d rows of %d events, each once",
					rows, seqs, wrong, perEvent, badRows, good*perEvent, good)
			}
			for _, ev := range events {
				if ev != bad && (ev.n != perEvent || ev.lo == 0 || ev.hi < ev.lo) {
					t.Fatalf("event %d decoded as %d rows from %d to %d; want %d rows and their time range", ev.seq, ev.n, ev.lo, ev.hi, perEvent)
				}
			}
			if path == PathBatch {
				return
			}
			set := <-target.free
			if peak := set[tbl.name].peak; peak == 0 || peak > insertBlockRows+perEvent {
				t.Errorf("the block's columns held up to %d rows; want at most a block (%d) and an event (%d)", peak, insertBlockRows, perEvent)
			}
		})
	}
}
