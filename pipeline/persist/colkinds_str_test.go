package persist

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestStrColumnMatchesChGo: a strColumn, which keeps where a row starts only for every
// markEvery-th row, gives every row and every range of rows back as ch-go's own String
// column of the same values encodes them: as appended, after truncating to any row,
// after appending more, and after copying ranges of another column (values of 0, 127
// and 128 bytes and more, so lengths of one and two bytes).
func TestStrColumnMatchesChGo(t *testing.T) {
	var want []string
	for i := range 3*markEvery + 5 {
		want = append(want, strings.Repeat(string(rune('a'+i%26)), []int{0, 1, 7, 127, 128, 300}[i%6]))
	}
	var c strColumn
	for _, v := range want {
		c.Append(v)
	}
	checkStrColumn(t, "appended", &c, want)

	for _, n := range []int{0, 1, markEvery - 1, markEvery, markEvery + 1, 2*markEvery + 3, len(want)} {
		var tc strColumn
		for _, v := range want {
			tc.AppendBytes([]byte(v))
		}
		tc.truncate(n)
		checkStrColumn(t, "truncated", &tc, want[:n])
		more := append(append([]string{}, want[:n]...), "after", strings.Repeat("z", 200))
		tc.Append("after")
		tc.Append(strings.Repeat("z", 200))
		checkStrColumn(t, "truncated and appended", &tc, more)
	}

	for _, r := range [][2]int{{0, 0}, {0, len(want)}, {3, markEvery + 2}, {markEvery, 2 * markEvery}, {markEvery + 5, len(want)}} {
		var dst strColumn
		dst.Append("first")
		dst.appendRange(&c, r[0], r[1])
		dst.Append("last")
		checkStrColumn(t, "copied", &dst, append(append([]string{"first"}, want[r[0]:r[1]]...), "last"))
	}

	c.Reset()
	c.Append("again")
	checkStrColumn(t, "reset", &c, []string{"again"})
}

func checkStrColumn(t *testing.T, name string, c *strColumn, want []string) {
	t.Helper()
	if c.Rows() != len(want) {
		t.Fatalf("%s: %d rows, want %d", name, c.Rows(), len(want))
	}
	for i, w := range want {
		if got := string(c.row(i)); got != w {
			t.Fatalf("%s: row %d is %q, want %q", name, i, got, w)
		}
	}
	for lo := 0; lo <= len(want); lo++ {
		for hi := lo; hi <= len(want); hi++ {
			var got, ref proto.Buffer
			c.encodeRange(&got, lo, hi)
			var chgo proto.ColStr
			for _, v := range want[lo:hi] {
				chgo.Append(v)
			}
			chgo.EncodeColumn(&ref)
			if !bytes.Equal(got.Buf, ref.Buf) {
				t.Fatalf("%s: rows %d..%d encode to %x, want %x", name, lo, hi, got.Buf, ref.Buf)
			}
			if vs := c.values(lo, hi); strings.Join(vs, "\x00") != strings.Join(want[lo:hi], "\x00") || len(vs) != hi-lo {
				t.Fatalf("%s: values %d..%d are %q, want %q", name, lo, hi, vs, want[lo:hi])
			}
		}
	}
}

// TestWriteColumnSendsWhatEncodeColumnDoes: a block's columns handed to ch-go's writer
// without copying (rangeWriter) go on the wire as the bytes they encode to, for every
// column of every table and any range of rows, arrays' offsets rebased included.
func TestWriteColumnSendsWhatEncodeColumnDoes(t *testing.T) {
	payloads := map[stream.Signal][]byte{
		stream.SignalTraces:  marshal(t, richTraces()),
		stream.SignalLogs:    richLogs(t),
		stream.SignalMetrics: everyMetricType(t),
	}
	for signal, payload := range payloads {
		t.Run(string(signal), func(t *testing.T) {
			set := tables[signal].newSet()
			// Three events, so that ranges start and end inside the arrays' elements.
			for seq := range uint64(3) {
				if _, err := set.decode(payload, eventMeta{tenant: "acme", seq: seq + 1}); err != nil {
					t.Fatal(err)
				}
			}
			n := set.rows()
			if n < 3 {
				t.Fatalf("%d rows decoded", n)
			}
			for i, c := range set.cols {
				for _, r := range [][2]int{{0, n}, {0, 1}, {1, n}, {n / 2, n - 1}, {n / 3, n / 3}} {
					cr := colRange{col: c, lo: r[0], hi: r[1]}
					var enc proto.Buffer
					cr.EncodeColumn(&enc)
					var sent bytes.Buffer
					w := proto.NewWriter(&sent, new(proto.Buffer))
					cr.WriteColumn(w)
					if _, err := w.Flush(); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(sent.Bytes(), enc.Buf) {
						t.Fatalf("column %s, rows %d..%d: written %x, encoded %x", tables[signal].described[i].Name, r[0], r[1], sent.Bytes(), enc.Buf)
					}
				}
			}
		})
	}
}
