package persist

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/telemetryd/telemetryd/schema"
)

func logsWithSeverity(t *testing.T, n int32) []byte {
	t.Helper()
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetSeverityNumber(plog.SeverityNumber(n))
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sumWithTemporality(t *testing.T, n int32) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("s")
	m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporality(n))
	m.Sum().DataPoints().AppendEmpty()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodersRefuseValuesTheTablesCannotHold: a time past what the tables hold, or an
// enum value past its UInt8 column. Ingest refuses such items, so one in an
// event means it got past ingest (published before it checked); the decoders fail the
// event, which dead-letters it, instead of storing it under another date.
func TestDecodersRefuseValuesTheTablesCannotHold(t *testing.T) {
	y2200 := pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	ok := pcommon.NewTimestampFromTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	logsWith := func(ts, observed pcommon.Timestamp) []byte {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(observed)
		b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	metricsWith := func(ts, start, exemplar pcommon.Timestamp) []byte {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		p := m.SetEmptyHistogram().DataPoints().AppendEmpty()
		p.SetTimestamp(ts)
		p.SetStartTimestamp(start)
		p.Exemplars().AppendEmpty().SetTimestamp(exemplar)
		b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		decode  func([]byte, eventMeta) (rowSet, error)
		payload []byte
		wantErr string // "" accepts
	}{
		{"span now", decodeSpans, rtSpansAt(t, ok.AsTime()), ""},
		{"span at the epoch", decodeSpans, rtSpansAt(t, time.Unix(0, 0)), ""},
		{"span in 2200", decodeSpans, rtSpansAt(t, y2200.AsTime()), "start_time_unix_nano 7258118400000000000"},
		{"log now, observed unset", decodeLogs, logsWith(ok, 0), ""},
		{"log in 2200", decodeLogs, logsWith(y2200, ok), "time_unix_nano 7258118400000000000"},
		{"log observed at max uint64", decodeLogs, logsWith(0, math.MaxUint64), "observed_time_unix_nano 18446744073709551615"},
		{"point now, start unset", decodeMetrics, metricsWith(ok, 0, ok), ""},
		{"point in 2200", decodeMetrics, metricsWith(y2200, 0, ok), "time_unix_nano 7258118400000000000"},
		{"point start too late", decodeMetrics, metricsWith(ok, pcommon.Timestamp(schema.MaxTimeUnixNano), ok), "start_time_unix_nano"},
		{"exemplar too late", decodeMetrics, metricsWith(ok, 0, math.MaxUint64), "exemplar time_unix_nano"},
		{"severity OTLP does not name", decodeLogs, logsWithSeverity(t, 30), ""},
		{"severity beyond a byte", decodeLogs, logsWithSeverity(t, 300), "severity_number 300"},
		{"temporality OTLP does not name", decodeMetrics, sumWithTemporality(t, 7), ""},
		{"temporality beyond a byte", decodeMetrics, sumWithTemporality(t, -2), "aggregation_temporality -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := tt.decode(tt.payload, rtMeta)
			if tt.wantErr == "" {
				if err != nil || rows.len() != 1 {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}
