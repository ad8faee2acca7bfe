package persist

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// encoded is every column of a block as the INSERT sends it.
func encoded(b *block) [][]byte {
	out := make([][]byte, len(b.input()))
	for i, c := range b.input() {
		var buf proto.Buffer
		c.Data.EncodeColumn(&buf)
		out[i] = buf.Buf
	}
	return out
}

// checkSameBlocks fails unless two blocks hold the same rows, column for column.
func checkSameBlocks(t *testing.T, tbl table, got, want *block) {
	t.Helper()
	if got.rows() != want.rows() {
		t.Fatalf("%d rows, want %d", got.rows(), want.rows())
	}
	g, w := encoded(got), encoded(want)
	for i := range w {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("column %s differs:\ngot  %x\nwant %x", tbl.described[i].Name, g[i], w[i])
		}
	}
}

// Three events of each table, with arrays, arrays of arrays and nullable columns.
func threeEvents(t *testing.T) map[stream.Signal][][]byte {
	return map[stream.Signal][][]byte{
		stream.SignalTraces:  {marshal(t, richTraces()), marshal(t, mcpTraces(3, 1)), marshal(t, richTraces())},
		stream.SignalLogs:    {richLogs(t), logsPayload(t, 2, 3), richLogs(t)},
		stream.SignalMetrics: {everyMetricType(t), payload(t, stream.SignalMetrics, 2, 3), everyMetricType(t)},
	}
}

// TestBlocksHoldTheirEventsRows: a block of some of a batch's events, adjacent in
// their column set (encoded in place) or not (gathered), holds the same rows as those
// events decoded on their own.
func TestBlocksHoldTheirEventsRows(t *testing.T) {
	for signal, payloads := range threeEvents(t) {
		tbl := tables[signal]
		set := tbl.newSet()
		events := make([]*event, len(payloads))
		for i, p := range payloads {
			rows, err := set.decode(p, eventMeta{tenant: "acme", seq: uint64(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			events[i] = &event{seq: uint64(i + 1), rows: rows}
		}
		b := newBlock(tbl)
		for _, pick := range [][]int{{0, 1, 2}, {1}, {1, 2}, {0, 2}, {2, 0}, {0}} {
			t.Run(fmt.Sprintf("%s/%v", tbl.name, pick), func(t *testing.T) {
				var of []*event
				var want [][]byte
				for _, i := range pick {
					of, want = append(of, events[i]), append(want, payloads[i])
				}
				b.fill(of)
				checkSameBlocks(t, tbl, b, aloneAs(t, tbl, pick, want))
			})
		}
	}
}

// aloneAs is alone with the events' own sequences.
func aloneAs(t *testing.T, tbl table, seqs []int, payloads [][]byte) *block {
	t.Helper()
	set := tbl.newSet()
	for j, p := range payloads {
		if _, err := set.decode(p, eventMeta{tenant: "acme", seq: uint64(seqs[j] + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBlock(tbl)
	b.fill([]*event{{rows: set.all()}})
	return b
}

// TestFailedEventLeavesNoRows: a payload that fails to decode after some of its rows
// were appended (a poison event in a batch) leaves the column set as it was, so the
// next event's rows follow the previous one's and no half row is ever sent.
func TestFailedEventLeavesNoRows(t *testing.T) {
	// A payload that decodes rows, then fails: its last record's attributes (and a
	// span's event) are appended before its malformed trace id is read.
	lastRecord := func(record []byte) []byte { return wireBytes(1, wireBytes(2, wireBytes(2, record))) }
	badSpan := wireMsg(wireBytes(9, wireKV("k", "v")), wireBytes(11, wireMsg(wireBytes(3, wireKV("ek", "ev")))),
		wireBytes(1, []byte{1, 2, 3}))
	badLog := wireMsg(wireBytes(6, wireKV("k", "v")), wireBytes(9, []byte{1, 2, 3}))
	badPoint := wireMsg(wireBytes(7, wireKV("k", "v")), []byte{0xff})
	badMetric := wireMsg(wireBytes(1, []byte("g")), wireBytes(5, wireBytes(1, badPoint)))
	failing := map[stream.Signal][]byte{
		stream.SignalTraces:  append(marshal(t, richTraces()), lastRecord(badSpan)...),
		stream.SignalLogs:    append(richLogs(t), lastRecord(badLog)...),
		stream.SignalMetrics: append(everyMetricType(t), lastRecord(badMetric)...),
	}
	for signal, payloads := range threeEvents(t) {
		tbl := tables[signal]
		t.Run(tbl.name, func(t *testing.T) {
			set := tbl.newSet()
			first, err := set.decode(payloads[0], eventMeta{tenant: "acme", seq: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tbl.newSet().decode(failing[signal], eventMeta{tenant: "acme", seq: 2}); err == nil {
				t.Fatal("the failing payload decodes")
			}
			if rows, err := set.decode(failing[signal], eventMeta{tenant: "acme", seq: 2}); err == nil || rows.len() != 0 {
				t.Fatalf("failing payload: %d rows, %v", rows.len(), err)
			}
			if set.rows() != first.hi {
				t.Fatalf("%d rows after the failed event, want %d", set.rows(), first.hi)
			}
			next, err := set.decode(payloads[1], eventMeta{tenant: "acme", seq: 3})
			if err != nil {
				t.Fatal(err)
			}
			if next.lo != first.hi {
				t.Fatalf("next event starts at row %d, want %d", next.lo, first.hi)
			}
			b := newBlock(tbl)
			b.fill([]*event{{rows: first}, {rows: next}})
			checkSameBlocks(t, tbl, b, aloneAs(t, tbl, []int{0, 2}, payloads[:2]))
		})
	}
}

// TestRangesEncodeAsChGoColumns: a range of a String or Array(String) column encodes
// as ch-go's own column of just those rows does, for lengths that take one and more
// bytes of uvarint.
func TestRangesEncodeAsChGoColumns(t *testing.T) {
	rows := [][]string{{"a"}, {}, {"", strings.Repeat("x", 127)}, {strings.Repeat("y", 128)}, {strings.Repeat("z", 20000), "b"}, {"c"}}
	var strs strColumn
	var arrs strArray
	for _, r := range rows {
		strs.Append(strings.Join(r, ","))
		appendStrings(&arrs, r)
	}
	for _, rng := range [][2]int{{0, 6}, {1, 5}, {2, 4}, {3, 3}, {5, 6}} {
		lo, hi := rng[0], rng[1]
		wantStr, wantArr := new(proto.ColStr), proto.NewArray[string](new(proto.ColStr))
		for _, r := range rows[lo:hi] {
			wantStr.Append(strings.Join(r, ","))
			wantArr.Append(r)
		}
		for _, c := range []struct {
			name string
			got  column
			want proto.ColInput
		}{{"String", &strs, wantStr}, {"Array(String)", &arrs, wantArr}} {
			var got, want proto.Buffer
			c.got.encodeRange(&got, lo, hi)
			c.want.EncodeColumn(&want)
			if !bytes.Equal(got.Buf, want.Buf) {
				t.Errorf("%s rows %d..%d: %x, ch-go %x", c.name, lo, hi, got.Buf, want.Buf)
			}
		}
	}
}

// checkDecodesAfterAnother decodes payload into a column set that holds another
// event already, as in a batch: it gives the rows it gives alone or, refused, leaves
// the set as it was, so the next event's rows follow the first one's. The fuzz tests
// run it on every input.
func checkDecodesAfterAnother(t *testing.T, tbl table, first, payload []byte) {
	t.Helper()
	set := tbl.newSet()
	a, err := set.decode(first, eventMeta{tenant: "acme", seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := set.decode(payload, eventMeta{tenant: "acme", seq: 2})
	want := [][]byte{first, payload}
	if err != nil {
		if set.rows() != a.hi {
			t.Fatalf("refused payload (%v) left %d rows, want %d", err, set.rows(), a.hi)
		}
		if rows, err = set.decode(first, eventMeta{tenant: "acme", seq: 2}); err != nil {
			t.Fatal(err)
		}
		want[1] = first
	}
	b := newBlock(tbl)
	b.fill([]*event{{rows: a}, {rows: rows}})
	checkSameBlocks(t, tbl, b, aloneAs(t, tbl, []int{0, 1}, want))
}
