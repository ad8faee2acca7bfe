package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/telemetryd/telemetryd/schema"
)

// Validation refuses, item by item, what could only be stored changed: a timestamp the
// tables cannot hold (schema.MaxTimeUnixNano) would land in another year or in a
// partition retention cannot date. The rest of the request is stored; the refused
// items are counted in the response's partial_success with a message naming the field
// and value. Values the tables hold as sent, such as span kinds and status codes
// unknown to OTLP today, are kept (see docs/api.md).

// rejections counts the items one request loses and why.
type rejections struct {
	item    string // "spans", "log records", "data points"
	n       int
	reasons []reason
}

// reason is one kind of problem: how many items had it and the first one's detail.
type reason struct {
	key, first string
	n          int
}

// add records one rejected item for reason key, with detail describing it.
func (r *rejections) add(key, detail string) { r.addN(key, detail, 1) }

// addN records n rejected items for reason key.
func (r *rejections) addN(key, detail string, n int) {
	if n == 0 {
		return
	}
	r.n += n
	for i := range r.reasons {
		if r.reasons[i].key == key {
			r.reasons[i].n += n
			return
		}
	}
	r.reasons = append(r.reasons, reason{key: key, first: detail, n: n})
}

// result is what sanitize returns: the count and the partial_success message.
func (r *rejections) result() (int, string) {
	if r.n == 0 {
		return 0, ""
	}
	parts := make([]string, len(r.reasons))
	for i, re := range r.reasons {
		parts[i] = fmt.Sprintf("%d %s", re.n, re.first)
	}
	return r.n, fmt.Sprintf("%d %s rejected: %s", r.n, r.item, strings.Join(parts, "; "))
}

// stamp is one timestamp field of an item.
type stamp struct {
	field string
	ts    pcommon.Timestamp
}

// badTime describes the first of stamps the tables cannot hold.
func badTime(stamps ...stamp) (string, bool) {
	for _, st := range stamps {
		if !schema.TimeFits(uint64(st.ts)) {
			return timeDetail(st.field, st.ts), true
		}
	}
	return "", false
}

func timeDetail(field string, ts pcommon.Timestamp) string {
	shown := strconv.FormatUint(uint64(ts), 10)
	if uint64(ts) <= 1<<63-1 {
		shown += " (" + time.Unix(0, int64(ts)).UTC().Format(time.RFC3339) + ")"
	}
	return fmt.Sprintf("with %s %s at or after %s, the latest time telemetryd stores",
		field, shown, schema.MaxTime().Format(time.RFC3339))
}

// validateTraces removes the spans that cannot be stored as sent: without a trace or
// span id (they could never be found) or with a start, end or event time out of range.
func validateTraces(td ptrace.Traces) (int, string) {
	r := rejections{item: "spans"}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					r.add("ids", "without a trace id or span id")
					return true
				}
				if d, bad := badTime(stamp{"start_time_unix_nano", s.StartTimestamp()}, stamp{"end_time_unix_nano", s.EndTimestamp()}); bad {
					r.add("time", d)
					return true
				}
				for _, e := range s.Events().All() {
					if d, bad := badTime(stamp{"an event's time_unix_nano", e.Timestamp()}); bad {
						r.add("event time", d)
						return true
					}
				}
				return false
			})
		}
	}
	return r.result()
}

// validateLogs removes the log records whose time or observed time is out of range, or
// whose severity number the UInt8 column cannot hold (one OTLP does not name, 25..255,
// is kept as sent). Every other field of a log record is optional.
func validateLogs(ld plog.Logs) (int, string) {
	r := rejections{item: "log records"}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if d, bad := badTime(stamp{"time_unix_nano", lr.Timestamp()}, stamp{"observed_time_unix_nano", lr.ObservedTimestamp()}); bad {
					r.add("time", d)
					return true
				}
				if d, bad := badByte("severity_number", int32(lr.SeverityNumber())); bad {
					r.add("severity", d)
					return true
				}
				return false
			})
		}
	}
	return r.result()
}

// badByte describes an enum value the UInt8 column it is stored in cannot hold.
func badByte(field string, v int32) (string, bool) {
	if v >= 0 && v <= 255 {
		return "", false
	}
	return fmt.Sprintf("with %s %d outside 0..255, the values telemetryd stores", field, v), true
}

// validateMetrics removes metrics without a name (nothing could query them) or with an
// aggregation temporality the UInt8 column cannot hold, and the data points whose time,
// start time or exemplar time is out of range; a metric left without points is removed
// too.
func validateMetrics(md pmetric.Metrics) (int, string) {
	r := rejections{item: "data points"}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if m.Name() == "" {
					r.addN("name", "of metrics without a name", dataPoints(m))
					return true
				}
				n := dataPoints(m)
				if n == 0 {
					return false // nothing to refuse; an empty metric stores no rows
				}
				if d, bad := badByte("aggregation_temporality", temporality(m)); bad {
					r.addN("temporality", d, n)
					return true
				}
				removePoints(m, func(start, ts pcommon.Timestamp, exemplars pmetric.ExemplarSlice) bool {
					d, bad := badTime(stamp{"time_unix_nano", ts}, stamp{"start_time_unix_nano", start})
					for i := 0; !bad && i < exemplars.Len(); i++ {
						d, bad = badTime(stamp{"an exemplar's time_unix_nano", exemplars.At(i).Timestamp()})
					}
					if bad {
						r.add("time", d)
					}
					return bad
				})
				return dataPoints(m) == 0
			})
		}
	}
	return r.result()
}

// removePoints removes the data points of m for which bad is true, whatever m's type.
func removePoints(m pmetric.Metric, bad func(start, ts pcommon.Timestamp, exemplars pmetric.ExemplarSlice) bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return bad(p.StartTimestamp(), p.Timestamp(), p.Exemplars()) })
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return bad(p.StartTimestamp(), p.Timestamp(), p.Exemplars()) })
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(p pmetric.HistogramDataPoint) bool {
			return bad(p.StartTimestamp(), p.Timestamp(), p.Exemplars())
		})
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(p pmetric.ExponentialHistogramDataPoint) bool {
			return bad(p.StartTimestamp(), p.Timestamp(), p.Exemplars())
		})
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(p pmetric.SummaryDataPoint) bool {
			return bad(p.StartTimestamp(), p.Timestamp(), pmetric.NewExemplarSlice())
		})
	}
}

// temporality is the aggregation temporality of a sum or histogram, 0 for the others.
func temporality(m pmetric.Metric) int32 {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return int32(m.Sum().AggregationTemporality())
	case pmetric.MetricTypeHistogram:
		return int32(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		return int32(m.ExponentialHistogram().AggregationTemporality())
	}
	return 0
}

func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
