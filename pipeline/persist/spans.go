package persist

import (
	"fmt"
	"time"

	"github.com/telemetryd/telemetryd/schema"
)

// spanColumns are the columns the spans of a batch's traces events decode into.
type spanColumns struct {
	tenant, traceID, spanID, parentSpanID, traceState, name strColumn
	statusMessage, service                                  strColumn
	scopeName, scopeVersion, resourceSchemaURL, scopeSchema strColumn
	tokenID                                                 strColumn
	kind, statusCode                                        enum8Column
	timestamp                                               dateTimeColumn
	start, end, duration, seq                               u64Column
	flags, droppedAttrs, droppedEvents, droppedLinks        u32Column
	partition                                               u16Column
	kindNumber, statusNumber                                i32Column
	attrKeys, attrValues                                    strArray
	resKeys, resValues, scopeKeys, scopeValues              sharedStrArray
	eventTimes                                              u64Array
	eventNames, linkTraceIDs, linkSpanIDs, linkTraceStates  strArray
	eventDropped, linkFlags, linkDropped                    u32Array
	eventKeys, eventValues, linkKeys, linkValues            strArrayArray
	arena                                                   arena
}

// spanTable declares the spans table's columns, in the table's order.
var spanTable = tableDef[spanColumns]{name: "spans", columns: []colDef[spanColumns]{
	strCol("tenant_id", func(r *spanColumns) *strColumn { return &r.tenant }),
	dateTimeCol("timestamp", func(r *spanColumns) *dateTimeColumn { return &r.timestamp }),
	uint64Col("start_time_unix_nano", func(r *spanColumns) *u64Column { return &r.start }),
	uint64Col("end_time_unix_nano", func(r *spanColumns) *u64Column { return &r.end }),
	uint64Col("duration_ns", func(r *spanColumns) *u64Column { return &r.duration }),
	strCol("trace_id", func(r *spanColumns) *strColumn { return &r.traceID }),
	strCol("span_id", func(r *spanColumns) *strColumn { return &r.spanID }),
	strCol("parent_span_id", func(r *spanColumns) *strColumn { return &r.parentSpanID }),
	strCol("trace_state", func(r *spanColumns) *strColumn { return &r.traceState }),
	strCol("name", func(r *spanColumns) *strColumn { return &r.name }),
	enum8Col("kind", spanKindNames, func(r *spanColumns) *enum8Column { return &r.kind }),
	enum8Col("status_code", statusCodeNames, func(r *spanColumns) *enum8Column { return &r.statusCode }),
	strCol("status_message", func(r *spanColumns) *strColumn { return &r.statusMessage }),
	strCol("service_name", func(r *spanColumns) *strColumn { return &r.service }),
	strArrayCol("attribute_keys", func(r *spanColumns) *strArray { return &r.attrKeys }),
	strArrayCol("attribute_values", func(r *spanColumns) *strArray { return &r.attrValues }),
	sharedStrArrayCol("resource_attribute_keys", func(r *spanColumns) *sharedStrArray { return &r.resKeys }),
	sharedStrArrayCol("resource_attribute_values", func(r *spanColumns) *sharedStrArray { return &r.resValues }),
	strCol("scope_name", func(r *spanColumns) *strColumn { return &r.scopeName }),
	strCol("scope_version", func(r *spanColumns) *strColumn { return &r.scopeVersion }),
	strCol("token_id", func(r *spanColumns) *strColumn { return &r.tokenID }),
	uint64Col("stream_seq", func(r *spanColumns) *u64Column { return &r.seq }),
	uint16Col("stream_partition", func(r *spanColumns) *u16Column { return &r.partition }),
	uint32Col("flags", func(r *spanColumns) *u32Column { return &r.flags }),
	uint32Col("dropped_attributes_count", func(r *spanColumns) *u32Column { return &r.droppedAttrs }),
	uint32Col("dropped_events_count", func(r *spanColumns) *u32Column { return &r.droppedEvents }),
	uint32Col("dropped_links_count", func(r *spanColumns) *u32Column { return &r.droppedLinks }),
	uint64ArrayCol("event_times", func(r *spanColumns) *u64Array { return &r.eventTimes }),
	strArrayCol("event_names", func(r *spanColumns) *strArray { return &r.eventNames }),
	strArrayArrayCol("event_attribute_keys", func(r *spanColumns) *strArrayArray { return &r.eventKeys }),
	strArrayArrayCol("event_attribute_values", func(r *spanColumns) *strArrayArray { return &r.eventValues }),
	uint32ArrayCol("event_dropped_attributes_counts", func(r *spanColumns) *u32Array { return &r.eventDropped }),
	strArrayCol("link_trace_ids", func(r *spanColumns) *strArray { return &r.linkTraceIDs }),
	strArrayCol("link_span_ids", func(r *spanColumns) *strArray { return &r.linkSpanIDs }),
	strArrayCol("link_trace_states", func(r *spanColumns) *strArray { return &r.linkTraceStates }),
	uint32ArrayCol("link_flags", func(r *spanColumns) *u32Array { return &r.linkFlags }),
	strArrayArrayCol("link_attribute_keys", func(r *spanColumns) *strArrayArray { return &r.linkKeys }),
	strArrayArrayCol("link_attribute_values", func(r *spanColumns) *strArrayArray { return &r.linkValues }),
	uint32ArrayCol("link_dropped_attributes_counts", func(r *spanColumns) *u32Array { return &r.linkDropped }),
	sharedStrArrayCol("scope_attribute_keys", func(r *spanColumns) *sharedStrArray { return &r.scopeKeys }),
	sharedStrArrayCol("scope_attribute_values", func(r *spanColumns) *sharedStrArray { return &r.scopeValues }),
	strCol("resource_schema_url", func(r *spanColumns) *strColumn { return &r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *spanColumns) *strColumn { return &r.scopeSchema }),
	int32Col("kind_number", func(r *spanColumns) *i32Column { return &r.kindNumber }),
	int32Col("status_number", func(r *spanColumns) *i32Column { return &r.statusNumber }),
}}

// eventMeta is what the stream tells about an event besides its payload.
type eventMeta struct {
	tenant    string
	tokenID   string
	seq       uint64 // the event's stream sequence
	partition uint16 // the stream partition (subject) it was published to
}

// resourceInfo is a resource as every row of it stores it.
type resourceInfo struct {
	service      string
	keys, values []string
	schemaURL    string
	id           uint64 // this resource among those its decoder read (sharedStrArray)
}

// scopeInfo is an instrumentation scope as every row of it stores it.
type scopeInfo struct {
	name, version, schemaURL string
	keys, values             []string
	id                       uint64 // this scope among those its decoder read (sharedStrArray)
}

// nanosTime is the DateTime (seconds) column of a unix-nanosecond timestamp the tables
// can hold (checkTimes).
func nanosTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

// stamp is one timestamp field of a row.
type stamp struct {
	field string
	ns    uint64
}

// checkTimes fails for the first timestamp the tables cannot hold. Ingest refuses
// those; one found here was published before it did or around it, and failing its
// event (which dead-letters it) beats storing it under another date.
func checkTimes(stamps ...stamp) error {
	for _, st := range stamps {
		if !schema.TimeFits(st.ns) {
			return fmt.Errorf("%s %d is at or after %s, the latest time the tables hold",
				st.field, st.ns, schema.MaxTime().Format(time.RFC3339))
		}
	}
	return nil
}

// checkByte fails for an enum value the UInt8 column it goes to cannot hold (ingest
// refuses those): a narrowing would store another value.
func checkByte(field string, v int32) (uint8, error) {
	if v < 0 || v > 255 {
		return 0, fmt.Errorf("%s %d is outside 0..255, the values the column holds", field, v)
	}
	return uint8(v), nil
}
