package persist

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// logRows are the rows of one logs event, column by column.
type logRows struct {
	tenant, severityText, body, traceID, spanID, service []string
	scopeName, scopeVersion, eventName                   []string
	resourceSchemaURL, scopeSchemaURL, tokenID           []string
	timestamp                                            []time.Time
	time, observed, seq                                  []uint64
	severity                                             []uint8
	flags, droppedAttrs                                  []uint32
	partition                                            []uint16
	attrKeys, attrValues, resKeys, resValues             [][]string
	scopeKeys, scopeValues                               [][]string
}

func (r *logRows) len() int { return len(r.seq) }

func (r *logRows) dateTimeRange() (lo, hi uint32) { return timeRange(r.timestamp) }

// logTable declares the logs table's columns, in the table's order.
var logTable = tableDef[logRows]{name: "logs", columns: []colDef[logRows]{
	strCol("tenant_id", func(r *logRows) []string { return r.tenant }),
	dateTimeCol("timestamp", func(r *logRows) []time.Time { return r.timestamp }),
	uint64Col("time_unix_nano", func(r *logRows) []uint64 { return r.time }),
	uint64Col("observed_time_unix_nano", func(r *logRows) []uint64 { return r.observed }),
	uint8Col("severity_number", func(r *logRows) []uint8 { return r.severity }),
	strCol("severity_text", func(r *logRows) []string { return r.severityText }),
	strCol("body", func(r *logRows) []string { return r.body }),
	strCol("trace_id", func(r *logRows) []string { return r.traceID }),
	strCol("span_id", func(r *logRows) []string { return r.spanID }),
	uint32Col("flags", func(r *logRows) []uint32 { return r.flags }),
	strCol("service_name", func(r *logRows) []string { return r.service }),
	strArrayCol("attribute_keys", func(r *logRows) [][]string { return r.attrKeys }),
	strArrayCol("attribute_values", func(r *logRows) [][]string { return r.attrValues }),
	strArrayCol("resource_attribute_keys", func(r *logRows) [][]string { return r.resKeys }),
	strArrayCol("resource_attribute_values", func(r *logRows) [][]string { return r.resValues }),
	strCol("scope_name", func(r *logRows) []string { return r.scopeName }),
	strCol("scope_version", func(r *logRows) []string { return r.scopeVersion }),
	strCol("token_id", func(r *logRows) []string { return r.tokenID }),
	uint64Col("stream_seq", func(r *logRows) []uint64 { return r.seq }),
	uint16Col("stream_partition", func(r *logRows) []uint16 { return r.partition }),
	strCol("event_name", func(r *logRows) []string { return r.eventName }),
	uint32Col("dropped_attributes_count", func(r *logRows) []uint32 { return r.droppedAttrs }),
	strArrayCol("scope_attribute_keys", func(r *logRows) [][]string { return r.scopeKeys }),
	strArrayCol("scope_attribute_values", func(r *logRows) [][]string { return r.scopeValues }),
	strCol("resource_schema_url", func(r *logRows) []string { return r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *logRows) []string { return r.scopeSchemaURL }),
}}

// logRecord is one log record's values, as a row stores them.
type logRecord struct {
	time, observed                uint64
	severity                      uint8
	severityText, body, eventName string
	traceID, spanID               string
	flags, droppedAttrs           uint32
	keys, values                  []string
}

// add appends a row.
func (r *logRows) add(meta eventMeta, res *resourceInfo, sc *scopeInfo, lr logRecord) {
	ts := lr.time
	if ts == 0 { // OTLP allows an unknown event time; the observed time stands in
		ts = lr.observed
	}
	r.tenant, r.timestamp, r.time, r.observed = append(r.tenant, meta.tenant), append(r.timestamp, nanosTime(ts)), append(r.time, ts), append(r.observed, lr.observed)
	r.severity, r.severityText, r.body = append(r.severity, lr.severity), append(r.severityText, lr.severityText), append(r.body, lr.body)
	r.traceID, r.spanID, r.flags = append(r.traceID, lr.traceID), append(r.spanID, lr.spanID), append(r.flags, lr.flags)
	r.service, r.attrKeys, r.attrValues = append(r.service, res.service), append(r.attrKeys, lr.keys), append(r.attrValues, lr.values)
	r.resKeys, r.resValues = append(r.resKeys, res.keys), append(r.resValues, res.values)
	r.scopeName, r.scopeVersion = append(r.scopeName, sc.name), append(r.scopeVersion, sc.version)
	r.tokenID, r.seq, r.partition = append(r.tokenID, meta.tokenID), append(r.seq, meta.seq), append(r.partition, meta.partition)
	r.eventName, r.droppedAttrs = append(r.eventName, lr.eventName), append(r.droppedAttrs, lr.droppedAttrs)
	r.scopeKeys, r.scopeValues = append(r.scopeKeys, sc.keys), append(r.scopeValues, sc.values)
	r.resourceSchemaURL, r.scopeSchemaURL = append(r.resourceSchemaURL, res.schemaURL), append(r.scopeSchemaURL, sc.schemaURL)
}

// decodeLogs turns an OTLP logs payload into rows of the logs table.
func decodeLogs(payload []byte, meta eventMeta) (rowSet, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, err
	}
	r := &logRows{}
	for _, rl := range req.Logs().ResourceLogs().All() {
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
	return r, nil
}
