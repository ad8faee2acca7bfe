package persist

import (
	"bytes"
	"math"
	"testing"

	"github.com/ClickHouse/ch-go/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// checkSameColumns fails when two decodings of one payload would not write the same
// columns: each column of both is encoded as the INSERT sends it and compared.
func checkSameColumns(t *testing.T, tbl table, got, want rowSet) {
	t.Helper()
	if got.len() != want.len() {
		t.Fatalf("wire decoder gave %d rows, pdata %d", got.len(), want.len())
	}
	g, w := newBlock(tbl), newBlock(tbl)
	g.fill([]*event{{rows: got}})
	w.fill([]*event{{rows: want}})
	for i, c := range g.input() {
		var gb, wb proto.Buffer
		c.Data.EncodeColumn(&gb)
		w.input()[i].Data.EncodeColumn(&wb)
		if !bytes.Equal(gb.Buf, wb.Buf) {
			t.Fatalf("column %s differs:\nwire  %x\npdata %x", c.Name, gb.Buf, wb.Buf)
		}
	}
	glo, ghi := got.dateTimeRange()
	wlo, whi := want.dateTimeRange()
	if glo != wlo || ghi != whi {
		t.Fatalf("time range %d..%d, pdata %d..%d", glo, ghi, wlo, whi)
	}
}

// checkLogsSameAsReference decodes a logs payload both ways. When the pdata-based
// reference accepts it, the wire decoder must accept it and give the same columns.
func checkLogsSameAsReference(t *testing.T, payload []byte) {
	t.Helper()
	want, refErr := referenceLogRows(payload, wireMeta)
	got, err := decodeLogs(payload, wireMeta)
	if refErr != nil {
		return
	}
	if err != nil {
		t.Fatalf("wire decoder refused what pdata accepts (%v)", err)
	}
	checkSameColumns(t, tables[stream.SignalLogs], got, want)
}

func TestDecodeLogsMatchesPdata(t *testing.T) {
	record := wireMsg(wireFixed64(1, 5), wireVarint(2, 9), wireBytes(3, []byte("WARN")),
		wireBytes(5, wireBytes(1, []byte("first body"))), wireBytes(5, nil), // a repeated body merges
		wireBytes(6, wireKV("k", "v")), wireVarint(7, 3), wireBytes(9, make([]byte, 16)),
		wireBytes(12, []byte("evt")), wireVarint(99, 1)) // an unknown field
	cases := map[string][]byte{
		"rich":          richLogs(t),
		"empty":         nil,
		"merged fields": wireBytes(1, wireMsg(wireBytes(2, wireBytes(2, record)), wireBytes(1, wireBytes(1, wireKV("service.name", "svc"))))),
		"many":          logsPayload(t, 3, 50),
		// Resource, scope and record attributes in the layouts otlpwire.ShortKeyValue reads.
		"attribute layouts": wireBytes(1, wireMsg(wireBytes(1, attributeLayouts(1)),
			wireBytes(2, wireMsg(wireBytes(1, attributeLayouts(3)), wireBytes(2, attributeLayouts(6)))))),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceLogRows(payload, wireMeta); err != nil {
				t.Fatalf("reference refused the case: %v", err)
			}
			checkLogsSameAsReference(t, payload)
		})
	}
}

func TestDecodeLogsRefusesBadPayloads(t *testing.T) {
	good := richLogs(t)
	record := func(f []byte) []byte { return wireBytes(1, wireBytes(2, wireBytes(2, f))) }
	cases := map[string][]byte{
		"truncated":         good[:len(good)-3],
		"short trace id":    record(wireBytes(9, []byte{1, 2, 3})),
		"body as varint":    record(wireVarint(5, 1)),
		"severity as I64":   record(wireFixed64(2, 1)),
		"severity past 255": record(wireVarint(2, 256)),
		"time too late":     record(wireFixed64(1, math.MaxUint64)),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceLogRows(payload, wireMeta); err == nil {
				t.Fatalf("the case is valid for pdata: fix the test")
			}
			if _, err := decodeLogs(payload, wireMeta); err == nil {
				t.Fatal("wire decoder accepted a payload pdata refuses")
			}
		})
	}
}

func FuzzDecodeLogs(f *testing.F) {
	f.Add(richLogs(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkLogsSameAsReference(t, payload)
		checkDecodesAfterAnother(t, tables[stream.SignalLogs], richLogs(t), payload)
	})
}

// BenchmarkDecodeLogs compares the wire decoder with the pdata one it replaced, on a
// request of 100 records with attributes.
func BenchmarkDecodeLogs(b *testing.B) {
	payload := benchLogs(b)
	set := tables[stream.SignalLogs].newSet()
	for name, decode := range map[string]func([]byte, eventMeta) (rowSet, error){
		"wire": func(p []byte, m eventMeta) (rowSet, error) {
			set.reset() // a worker's batch reuses its columns
			return set.decode(p, m)
		},
		"pdata": func(p []byte, m eventMeta) (rowSet, error) { return referenceLogRows(p, m) },
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(payload, wireMeta); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
		})
	}
}

// benchLogs is a request of 100 records with attributes.
func benchLogs(b *testing.B) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "bench")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range 100 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr("request handled in 12 ms")
		lr.Attributes().PutStr("http.route", "/api/v1/items")
		lr.Attributes().PutInt("http.status_code", 200)
		lr.Attributes().PutStr("user.id", "u-12345")
	}
	payload, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	return payload
}
