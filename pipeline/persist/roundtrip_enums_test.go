package persist

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestUnknownKindsAndStatusCodesAreStoredAsSent: OTLP receivers accept enum values they
// do not know. The Enum8 columns hold the named ones; every value, named or not, is
// also stored as sent in kind_number / status_number, so kind 99 is not read back as
// "unspecified" nor status 7 as "unset".
func TestUnknownKindsAndStatusCodesAreStoredAsSent(t *testing.T) {
	ch := rtDatabase(t)
	cases := []struct {
		kind, status         int32
		kindName, statusName string
	}{
		{2, 2, "server", "error"},
		{99, 7, "unspecified", "unset"},
		{-1, -3, "unspecified", "unset"},
	}
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, c := range cases {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		s.SetKind(ptrace.SpanKind(c.kind))
		s.Status().SetCode(ptrace.StatusCode(c.status))
	}
	payload, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	checkSameAsReference(t, payload)
	rtInsert(t, ch, tables[stream.SignalTraces], payload, rtMeta)
	rows, err := ch.Query(context.Background(), "SELECT kind, kind_number, status_code, status_number FROM spans ORDER BY span_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var kind, status string
		var kindNumber, statusNumber int32
		if err := rows.Scan(&kind, &kindNumber, &status, &statusNumber); err != nil {
			t.Fatal(err)
		}
		c := cases[i]
		rtEqual(t, "kind", []any{kind, kindNumber}, []any{c.kindName, c.kind})
		rtEqual(t, "status", []any{status, statusNumber}, []any{c.statusName, c.status})
	}
	if i != len(cases) {
		t.Fatalf("read %d spans back, want %d", i, len(cases))
	}
}
