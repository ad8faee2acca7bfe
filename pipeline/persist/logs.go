package persist

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// logRows are the columns the log records of a batch's logs events decode into.
type logRows struct {
	tenant, severityText, body, traceID, spanID, service strColumn
	scopeName, scopeVersion, eventName                   strColumn
	resourceSchemaURL, scopeSchemaURL, tokenID           strColumn
	timestamp                                            dateTimeColumn
	time, observed, seq                                  u64Column
	severity                                             u8Column
	flags, droppedAttrs                                  u32Column
	partition                                            u16Column
	attrKeys, attrValues                                 strArray
	resKeys, resValues, scopeKeys, scopeValues           sharedStrArray
	arena                                                arena
}

// logTable declares the logs table's columns, in the table's order.
var logTable = tableDef[logRows]{name: "logs", columns: []colDef[logRows]{
	strCol("tenant_id", func(r *logRows) *strColumn { return &r.tenant }),
	dateTimeCol("timestamp", func(r *logRows) *dateTimeColumn { return &r.timestamp }),
	uint64Col("time_unix_nano", func(r *logRows) *u64Column { return &r.time }),
	uint64Col("observed_time_unix_nano", func(r *logRows) *u64Column { return &r.observed }),
	uint8Col("severity_number", func(r *logRows) *u8Column { return &r.severity }),
	strCol("severity_text", func(r *logRows) *strColumn { return &r.severityText }),
	strCol("body", func(r *logRows) *strColumn { return &r.body }),
	strCol("trace_id", func(r *logRows) *strColumn { return &r.traceID }),
	strCol("span_id", func(r *logRows) *strColumn { return &r.spanID }),
	uint32Col("flags", func(r *logRows) *u32Column { return &r.flags }),
	strCol("service_name", func(r *logRows) *strColumn { return &r.service }),
	strArrayCol("attribute_keys", func(r *logRows) *strArray { return &r.attrKeys }),
	strArrayCol("attribute_values", func(r *logRows) *strArray { return &r.attrValues }),
	sharedStrArrayCol("resource_attribute_keys", func(r *logRows) *sharedStrArray { return &r.resKeys }),
	sharedStrArrayCol("resource_attribute_values", func(r *logRows) *sharedStrArray { return &r.resValues }),
	strCol("scope_name", func(r *logRows) *strColumn { return &r.scopeName }),
	strCol("scope_version", func(r *logRows) *strColumn { return &r.scopeVersion }),
	strCol("token_id", func(r *logRows) *strColumn { return &r.tokenID }),
	uint64Col("stream_seq", func(r *logRows) *u64Column { return &r.seq }),
	uint16Col("stream_partition", func(r *logRows) *u16Column { return &r.partition }),
	strCol("event_name", func(r *logRows) *strColumn { return &r.eventName }),
	uint32Col("dropped_attributes_count", func(r *logRows) *u32Column { return &r.droppedAttrs }),
	sharedStrArrayCol("scope_attribute_keys", func(r *logRows) *sharedStrArray { return &r.scopeKeys }),
	sharedStrArrayCol("scope_attribute_values", func(r *logRows) *sharedStrArray { return &r.scopeValues }),
	strCol("resource_schema_url", func(r *logRows) *strColumn { return &r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *logRows) *strColumn { return &r.scopeSchemaURL }),
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
	r.tenant.Append(meta.tenant)
	r.timestamp.appendNanos(ts)
	r.time.append(ts)
	r.observed.append(lr.observed)
	r.severity.append(lr.severity)
	r.severityText.Append(lr.severityText)
	r.body.Append(lr.body)
	r.traceID.Append(lr.traceID)
	r.spanID.Append(lr.spanID)
	r.flags.append(lr.flags)
	r.service.Append(res.service)
	appendStrings(&r.attrKeys, lr.keys)
	appendStrings(&r.attrValues, lr.values)
	r.resKeys.appendRow(res.keys, res.id)
	r.resValues.appendRow(res.values, res.id)
	r.scopeName.Append(sc.name)
	r.scopeVersion.Append(sc.version)
	r.tokenID.Append(meta.tokenID)
	r.seq.append(meta.seq)
	r.partition.append(meta.partition)
	r.eventName.Append(lr.eventName)
	r.droppedAttrs.append(lr.droppedAttrs)
	r.scopeKeys.appendRow(sc.keys, sc.id)
	r.scopeValues.appendRow(sc.values, sc.id)
	r.resourceSchemaURL.Append(res.schemaURL)
	r.scopeSchemaURL.Append(sc.schemaURL)
}

// decodeLogs decodes an OTLP ExportLogsServiceRequest into a column set of its own.
func decodeLogs(payload []byte, meta eventMeta) (rowSet, error) {
	return tables[stream.SignalLogs].decode(payload, meta)
}

// decode appends the log records of an OTLP ExportLogsServiceRequest as rows, read
// off the wire as spans are.
func (r *logRows) decode(payload []byte, meta eventMeta) error {
	r.arena.reset()
	return eachBytes(payload, 1, func(rl []byte) error { // resource_logs
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
		f := &it.cur
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
