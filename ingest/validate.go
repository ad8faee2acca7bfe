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
// partition retention cannot date; an enum value past its one-byte column would be
// stored as another. The rest of the request is stored; the refused items are counted
// in the response's partial_success, whose message names each problem with its first
// offending field and value. Values the tables hold as sent, such as span kinds and
// status codes OTLP does not name, are kept (docs/api.md).

// Problems, as the partial_success message words them.
const (
	problemIDs     = "without a trace id or span id"
	problemUnnamed = "of metrics without a name"
	problemByte    = "with an enum value outside 0..255, what its column holds"
)

// problemTime is the wording of a timestamp the tables cannot hold.
func problemTime() string {
	return "with a timestamp at or after " + schema.MaxTime().Format(time.RFC3339) + ", the latest telemetryd stores"
}

// rejections counts the items one request loses and why.
type rejections struct {
	item     string // "span", "log record", "data point"
	n        int
	problems []problem
}

// problem is one kind of fault: how many items had it and the first one's field and value.
type problem struct {
	what, first string
	n           int
}

// add records n rejected items with the fault what; first names the offending field
// and value of the first ("" when what says it all).
func (r *rejections) add(what, first string, n int) {
	if n == 0 {
		return
	}
	r.n += n
	for i := range r.problems {
		if r.problems[i].what == what {
			r.problems[i].n += n
			return
		}
	}
	r.problems = append(r.problems, problem{what: what, first: first, n: n})
}

// result is what sanitize returns: the count and the partial_success message, e.g.
// "2 spans rejected: 1 without a trace id or span id; 1 with a timestamp at or after
// 2106-01-01T00:00:00Z, the latest telemetryd stores (first: start_time_unix_nano ...)".
func (r *rejections) result() (int, string) {
	if r.n == 0 {
		return 0, ""
	}
	parts := make([]string, len(r.problems))
	for i, p := range r.problems {
		parts[i] = fmt.Sprintf("%d %s", p.n, p.what)
		if p.first != "" {
			parts[i] += " (first: " + p.first + ")"
		}
	}
	item := r.item + "s"
	if r.n == 1 {
		item = r.item
	}
	return r.n, fmt.Sprintf("%d %s rejected: %s", r.n, item, strings.Join(parts, "; "))
}

// stamp is one timestamp field of an item.
type stamp struct {
	field string
	ts    pcommon.Timestamp
}

// badTime names the first of stamps the tables cannot hold, with its value.
func badTime(stamps ...stamp) (string, bool) {
	for _, st := range stamps {
		if schema.TimeFits(uint64(st.ts)) {
			continue
		}
		shown := st.field + " " + strconv.FormatUint(uint64(st.ts), 10)
		if uint64(st.ts) <= 1<<63-1 {
			shown += " = " + time.Unix(0, int64(st.ts)).UTC().Format(time.RFC3339)
		}
		return shown, true
	}
	return "", false
}

// badByte names an enum value its UInt8 column cannot hold.
func badByte(field string, v int32) (string, bool) {
	if v >= 0 && v <= 255 {
		return "", false
	}
	return field + " " + strconv.FormatInt(int64(v), 10), true
}

// validateTraces removes the spans that cannot be stored as sent: without a trace or
// span id (they could never be found) or with a start, end or event time out of range.
func validateTraces(td ptrace.Traces) (int, string) {
	r := rejections{item: "span"}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					r.add(problemIDs, "", 1)
					return true
				}
				stamps := []stamp{{"start_time_unix_nano", s.StartTimestamp()}, {"end_time_unix_nano", s.EndTimestamp()}}
				for _, e := range s.Events().All() {
					stamps = append(stamps, stamp{"an event's time_unix_nano", e.Timestamp()})
				}
				if first, bad := badTime(stamps...); bad {
					r.add(problemTime(), first, 1)
					return true
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
	r := rejections{item: "log record"}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if first, bad := badTime(stamp{"time_unix_nano", lr.Timestamp()}, stamp{"observed_time_unix_nano", lr.ObservedTimestamp()}); bad {
					r.add(problemTime(), first, 1)
					return true
				}
				if first, bad := badByte("severity_number", int32(lr.SeverityNumber())); bad {
					r.add(problemByte, first, 1)
					return true
				}
				return false
			})
		}
	}
	return r.result()
}

// validateMetrics removes metrics without a name (nothing could query them) or with an
// aggregation temporality the UInt8 column cannot hold, and the data points whose time,
// start time or exemplar time is out of range; a metric left without points goes too.
func validateMetrics(md pmetric.Metrics) (int, string) {
	r := rejections{item: "data point"}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				n := dataPoints(m)
				if m.Name() == "" {
					r.add(problemUnnamed, "", n)
					return true
				}
				if n == 0 {
					return false // nothing to refuse; an empty metric stores no rows
				}
				if first, bad := badByte("aggregation_temporality", temporality(m)); bad {
					r.add(problemByte, first, n)
					return true
				}
				removePoints(m, func(start, ts pcommon.Timestamp, exemplars pmetric.ExemplarSlice) bool {
					stamps := []stamp{{"time_unix_nano", ts}, {"start_time_unix_nano", start}}
					for _, e := range exemplars.All() {
						stamps = append(stamps, stamp{"an exemplar's time_unix_nano", e.Timestamp()})
					}
					first, bad := badTime(stamps...)
					if bad {
						r.add(problemTime(), first, 1)
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
