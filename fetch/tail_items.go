package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TailLog is one log record as the tail sends it.
type TailLog struct {
	Time               time.Time         `json:"time"`
	TraceID            string            `json:"trace_id"`
	SpanID             string            `json:"span_id"`
	SeverityText       string            `json:"severity_text"`
	SeverityNumber     int32             `json:"severity_number"`
	Body               string            `json:"body"`
	ServiceName        string            `json:"service_name"`
	ScopeName          string            `json:"scope_name"`
	Attributes         map[string]string `json:"attributes"`
	ResourceAttributes map[string]string `json:"resource_attributes"`
}

// TailPoint is one metric data point as the tail sends it. Value is a gauge's or sum's
// value, or a histogram's or summary's sum (Count then says over how many).
type TailPoint struct {
	MetricName         string            `json:"metric_name"`
	MetricType         string            `json:"metric_type"`
	Unit               string            `json:"unit"`
	Time               time.Time         `json:"time"`
	Value              float64           `json:"value"`
	Count              uint64            `json:"count,omitempty"`
	ServiceName        string            `json:"service_name"`
	Attributes         map[string]string `json:"attributes"`
	ResourceAttributes map[string]string `json:"resource_attributes"`
}

// sseWriter writes Server-Sent Events, each flushed at once and bounded in time.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) write(b []byte) error {
	// Replaces the server's WriteTimeout, which would cut every stream after two
	// minutes, by a deadline per write. Recorders in tests do not support it.
	if err := s.rc.SetWriteDeadline(time.Now().Add(tailWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) comment(text string) error { return s.write([]byte(": " + text + "\n\n")) }

// credentialEnded tells the client, as an "error" event, why its tail ends: it must
// not reconnect with the same credential.
func (s *sseWriter) credentialEnded(err error) error {
	data, merr := json.Marshal(map[string]string{"error": err.Error()})
	if merr != nil {
		return merr
	}
	return s.write([]byte("event: error\ndata: " + string(data) + "\n\n"))
}

func (s *sseWriter) event(ev tailEvent) error {
	b, err := formatSSE(ev)
	if err != nil {
		return err
	}
	return s.write(b)
}

// formatSSE frames ev: its stream sequence as the id a client resumes from.
func formatSSE(ev tailEvent) ([]byte, error) {
	data, err := json.Marshal(ev.items) // compact JSON holds no newline
	if err != nil {
		return nil, fmt.Errorf("encode tail event: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(data) + 48)
	b.WriteString("id: " + strconv.FormatUint(ev.seq, 10) + "\nevent: " + ev.kind + "\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// tailResource is what every item of a resource shares.
type tailResource struct {
	service string
	attrs   map[string]string
}

func newTailResource(r pcommon.Resource) tailResource {
	res := tailResource{attrs: tailAttrs(r.Attributes())}
	res.service = res.attrs["service.name"]
	return res
}

func (r tailResource) wanted(service string) bool { return service == "" || r.service == service }

func tailSpans(payload []byte, service string) ([]Span, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, fmt.Errorf("decode traces: %w", err)
	}
	out := []Span{}
	for _, rs := range req.Traces().ResourceSpans().All() {
		res := newTailResource(rs.Resource())
		if !res.wanted(service) {
			continue
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				start, end := uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
				s := Span{
					TraceID: sp.TraceID().String(), SpanID: sp.SpanID().String(), ParentSpanID: sp.ParentSpanID().String(),
					Name: sp.Name(), Kind: enumShown(strings.ToLower(sp.Kind().String()), int32(sp.Kind()), lastSpanKind),
					StartTime: nanosToTime(start), EndTime: nanosToTime(end),
					StatusCode:    enumShown(strings.ToLower(sp.Status().Code().String()), int32(sp.Status().Code()), lastStatusCode),
					StatusMessage: sp.Status().Message(),
					ServiceName:   res.service, ScopeName: ss.Scope().Name(),
					Attributes: tailAttrs(sp.Attributes()), ResourceAttributes: res.attrs,
				}
				if end > start {
					s.DurationMs = nanosToMillis(end - start)
				}
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func tailLogs(payload []byte, service string) ([]TailLog, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, fmt.Errorf("decode logs: %w", err)
	}
	out := []TailLog{}
	for _, rl := range req.Logs().ResourceLogs().All() {
		res := newTailResource(rl.Resource())
		if !res.wanted(service) {
			continue
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				ts := lr.Timestamp()
				if ts == 0 { // OTLP: use the observed time when the event time is unknown
					ts = lr.ObservedTimestamp()
				}
				out = append(out, TailLog{
					Time: nanosToTime(uint64(ts)), TraceID: lr.TraceID().String(), SpanID: lr.SpanID().String(),
					SeverityText: lr.SeverityText(), SeverityNumber: int32(lr.SeverityNumber()),
					Body: lr.Body().AsString(), ServiceName: res.service, ScopeName: sl.Scope().Name(),
					Attributes: tailAttrs(lr.Attributes()), ResourceAttributes: res.attrs,
				})
			}
		}
	}
	return out, nil
}

func tailPoints(payload []byte, service string) ([]TailPoint, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, fmt.Errorf("decode metrics: %w", err)
	}
	out := []TailPoint{}
	for _, rm := range req.Metrics().ResourceMetrics().All() {
		res := newTailResource(rm.Resource())
		if !res.wanted(service) {
			continue
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				out = appendTailPoints(out, m, res)
			}
		}
	}
	return out, nil
}

// appendTailPoints appends m's data points, whatever its type.
func appendTailPoints(out []TailPoint, m pmetric.Metric, res tailResource) []TailPoint {
	add := func(ts pcommon.Timestamp, attrs pcommon.Map, value float64, count uint64) {
		out = append(out, TailPoint{
			MetricName: m.Name(), MetricType: strings.ToLower(m.Type().String()), Unit: m.Unit(),
			Time: nanosToTime(uint64(ts)), Value: value, Count: count,
			ServiceName: res.service, Attributes: tailAttrs(attrs), ResourceAttributes: res.attrs,
		})
	}
	number := func(p pmetric.NumberDataPoint) float64 {
		if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
			return float64(p.IntValue())
		}
		return p.DoubleValue()
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, p := range m.Gauge().DataPoints().All() {
			add(p.Timestamp(), p.Attributes(), number(p), 0)
		}
	case pmetric.MetricTypeSum:
		for _, p := range m.Sum().DataPoints().All() {
			add(p.Timestamp(), p.Attributes(), number(p), 0)
		}
	case pmetric.MetricTypeHistogram:
		for _, p := range m.Histogram().DataPoints().All() {
			add(p.Timestamp(), p.Attributes(), p.Sum(), p.Count())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, p := range m.ExponentialHistogram().DataPoints().All() {
			add(p.Timestamp(), p.Attributes(), p.Sum(), p.Count())
		}
	case pmetric.MetricTypeSummary:
		for _, p := range m.Summary().DataPoints().All() {
			add(p.Timestamp(), p.Attributes(), p.Sum(), p.Count())
		}
	}
	return out
}

// tailAttrs renders attributes as the fetch routes do: non-string values in JSON form.
func tailAttrs(m pcommon.Map) map[string]string {
	out := make(map[string]string, m.Len())
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}
