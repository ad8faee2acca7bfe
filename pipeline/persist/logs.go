package persist

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// logColumns are the logs table's columns in the order decodeLogs fills them.
const logColumns = "tenant_id, timestamp, time_unix_nano, observed_time_unix_nano, severity_number, " +
	"severity_text, body, trace_id, span_id, flags, service_name, attribute_keys, attribute_values, " +
	"resource_attribute_keys, resource_attribute_values, scope_name, scope_version, " +
	"event_name, dropped_attributes_count, scope_attribute_keys, scope_attribute_values, resource_schema_url, scope_schema_url, " +
	"token_id, stream_seq, stream_partition"

// decodeLogs turns an OTLP logs payload into rows of the logs table.
func decodeLogs(payload []byte, meta eventMeta) (rowSet, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, err
	}
	logs := req.Logs()
	rows := make([][]any, 0, logs.LogRecordCount())
	for _, rl := range logs.ResourceLogs().All() {
		res := newResourceInfo(rl.Resource(), rl.SchemaUrl())
		for _, sl := range rl.ScopeLogs().All() {
			scope := newScopeInfo(sl.Scope(), sl.SchemaUrl())
			for _, lr := range sl.LogRecords().All() {
				if err := checkTimes(stamp{"time_unix_nano", uint64(lr.Timestamp())},
					stamp{"observed_time_unix_nano", uint64(lr.ObservedTimestamp())}); err != nil {
					return nil, fmt.Errorf("log record: %w", err)
				}
				severity, err := checkByte("severity_number", int32(lr.SeverityNumber()))
				if err != nil {
					return nil, fmt.Errorf("log record: %w", err)
				}
				ts := uint64(lr.Timestamp())
				if ts == 0 { // OTLP allows an unknown event time; the observed time stands in
					ts = uint64(lr.ObservedTimestamp())
				}
				keys, values := attributes(lr.Attributes())
				rows = append(rows, []any{
					meta.tenant, nanosTime(ts), ts, uint64(lr.ObservedTimestamp()), severity,
					lr.SeverityText(), lr.Body().AsString(), lr.TraceID().String(), lr.SpanID().String(), uint32(lr.Flags()),
					res.service, keys, values, res.keys, res.values, scope.name, scope.version,
					lr.EventName(), lr.DroppedAttributesCount(), scope.keys, scope.values, res.schemaURL, scope.schemaURL,
					meta.tokenID, meta.seq, meta.partition,
				})
			}
		}
	}
	return rowList(rows), nil
}
