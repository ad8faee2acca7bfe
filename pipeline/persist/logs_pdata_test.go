package persist

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// referenceLogRows is the pdata-based logs decoder the workers used before they read
// the wire directly; kept as the reference the wire decoder is checked against.
func referenceLogRows(payload []byte, meta eventMeta) (rowSet, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return rowSet{}, err
	}
	set := tables[stream.SignalLogs].newSet()
	r := set.typed.(*logRows)
	for _, rl := range req.Logs().ResourceLogs().All() {
		res := newResourceInfo(rl.Resource(), rl.SchemaUrl())
		for _, sl := range rl.ScopeLogs().All() {
			scope := newScopeInfo(sl.Scope(), sl.SchemaUrl())
			for _, lr := range sl.LogRecords().All() {
				if err := checkTimes(stamp{"time_unix_nano", uint64(lr.Timestamp())},
					stamp{"observed_time_unix_nano", uint64(lr.ObservedTimestamp())}); err != nil {
					return rowSet{}, fmt.Errorf("log record: %w", err)
				}
				severity, err := checkByte("severity_number", int32(lr.SeverityNumber()))
				if err != nil {
					return rowSet{}, fmt.Errorf("log record: %w", err)
				}
				keys, values := attributes(lr.Attributes())
				r.add(meta, &res, &scope, logRecord{
					time: uint64(lr.Timestamp()), observed: uint64(lr.ObservedTimestamp()), severity: severity,
					severityText: lr.SeverityText(), body: lr.Body().AsString(), eventName: lr.EventName(),
					traceID: lr.TraceID().String(), spanID: lr.SpanID().String(), flags: uint32(lr.Flags()),
					droppedAttrs: lr.DroppedAttributesCount(), keys: keys, values: values,
				})
			}
		}
	}
	return set.all(), nil
}
