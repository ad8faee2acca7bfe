package persist

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
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
	arena                                                arena
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

// decodeLogs turns an OTLP ExportLogsServiceRequest into rows of the logs table,
// read off the wire as decodeSpans reads spans.
func decodeLogs(payload []byte, meta eventMeta) (rowSet, error) {
	r := &logRows{}
	r.reserve(countRecords(payload))
	err := eachBytes(payload, 1, func(rl []byte) error { // resource_logs
		res, err := r.arena.readResource(rl, 3)
		if err != nil {
			return err
		}
		return eachBytes(rl, 2, func(sl []byte) error { // scope_logs
			sc, err := r.arena.readScope(sl)
			if err != nil {
				return err
			}
			return eachBytes(sl, 2, func(lr []byte) error { // log_records
				rec, err := r.arena.logRecord(lr)
				if err != nil {
					return fmt.Errorf("log record: %w", err)
				}
				r.add(meta, &res, &sc, rec)
				return nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// LogRecord field numbers (opentelemetry/proto/logs/v1/logs.proto).
const (
	logTime         protowire.Number = 1
	logSeverity     protowire.Number = 2
	logSeverityText protowire.Number = 3
	logBody         protowire.Number = 5
	logAttributes   protowire.Number = 6
	logDroppedAttrs protowire.Number = 7
	logFlags        protowire.Number = 8
	logTraceID      protowire.Number = 9
	logSpanID       protowire.Number = 10
	logObservedTime protowire.Number = 11
	logEventName    protowire.Number = 12
)

// logRecord reads one LogRecord message.
func (a *arena) logRecord(msg []byte) (logRecord, error) {
	var (
		rec      logRecord
		severity uint64
		body     []byte
	)
	it := fields{msg: msg}
	for it.next() {
		f := it.cur
		var err error
		switch f.num {
		case logTime, logObservedTime:
			if err = f.want(protowire.Fixed64Type); err == nil {
				if f.num == logTime {
					rec.time = f.u64
				} else {
					rec.observed = f.u64
				}
			}
		case logSeverity, logDroppedAttrs:
			if err = f.want(protowire.VarintType); err == nil {
				if f.num == logSeverity {
					severity = f.u64
				} else {
					rec.droppedAttrs = uint32(f.u64)
				}
			}
		case logFlags:
			if err = f.want(protowire.Fixed32Type); err == nil {
				rec.flags = uint32(f.u64)
			}
		case logSeverityText, logEventName:
			if err = f.want(protowire.BytesType); err == nil {
				if f.num == logSeverityText {
					rec.severityText = wireString(f.data)
				} else {
					rec.eventName = wireString(f.data)
				}
			}
		case logTraceID, logSpanID:
			if err = f.want(protowire.BytesType); err == nil {
				if f.num == logTraceID {
					rec.traceID, err = a.hexID(f.data, 16)
				} else {
					rec.spanID, err = a.hexID(f.data, 8)
				}
			}
		case logBody, logAttributes:
			err = f.want(protowire.BytesType)
		}
		if err != nil {
			return rec, err
		}
	}
	if it.err != nil {
		return rec, it.err
	}
	if err := checkTimes(stamp{"time_unix_nano", rec.time}, stamp{"observed_time_unix_nano", rec.observed}); err != nil {
		return rec, err
	}
	// An OTLP enum is an int32: a negative one is sent sign-extended to 64 bits.
	var err error
	if rec.severity, err = checkByte("severity_number", int32(severity)); err != nil {
		return rec, err
	}
	if body, err = merged(msg, logBody); err != nil {
		return rec, err
	}
	if rec.body, err = a.anyValueString(body); err != nil {
		return rec, fmt.Errorf("body: %w", err)
	}
	if rec.keys, rec.values, err = a.attributes(msg, logAttributes); err != nil {
		return rec, err
	}
	return rec, nil
}

// countRecords counts the log records of a request without decoding them, to size
// the columns (a ResourceLogs and a ScopeLogs hold their children in field 2 as
// ResourceSpans and ScopeSpans do).
func countRecords(payload []byte) int { return countSpans(payload) }

func (r *logRows) reserve(n int) {
	for _, s := range []*[]string{&r.tenant, &r.severityText, &r.body, &r.traceID, &r.spanID, &r.service,
		&r.scopeName, &r.scopeVersion, &r.eventName, &r.resourceSchemaURL, &r.scopeSchemaURL, &r.tokenID} {
		*s = make([]string, 0, n)
	}
	for _, s := range []*[]uint64{&r.time, &r.observed, &r.seq} {
		*s = make([]uint64, 0, n)
	}
	for _, s := range []*[][]string{&r.attrKeys, &r.attrValues, &r.resKeys, &r.resValues, &r.scopeKeys, &r.scopeValues} {
		*s = make([][]string, 0, n)
	}
	r.timestamp, r.severity = make([]time.Time, 0, n), make([]uint8, 0, n)
	r.flags, r.droppedAttrs, r.partition = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint16, 0, n)
}
