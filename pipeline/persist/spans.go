package persist

import (
	"fmt"
	"time"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/schema"
)

// spanRows are the rows of one traces event, column by column.
type spanRows struct {
	tenant, traceID, spanID, parentSpanID, traceState, name []string
	statusMessage, service                                  []string
	scopeName, scopeVersion, resourceSchemaURL, scopeSchema []string
	tokenID                                                 []string
	kind, statusCode                                        []proto.Enum8
	timestamp                                               []time.Time
	start, end, duration, seq                               []uint64
	flags, droppedAttrs, droppedEvents, droppedLinks        []uint32
	partition                                               []uint16
	kindNumber, statusNumber                                []int32
	attrKeys, attrValues, resKeys, resValues                [][]string
	scopeKeys, scopeValues                                  [][]string
	eventTimes                                              [][]uint64
	eventNames, linkTraceIDs, linkSpanIDs, linkTraceStates  [][]string
	eventDropped, linkFlags, linkDropped                    [][]uint32
	eventKeys, eventValues, linkKeys, linkValues            [][][]string
	arena                                                   arena
}

func (r *spanRows) len() int { return len(r.seq) }

func (r *spanRows) dateTimeRange() (lo, hi uint32) { return timeRange(r.timestamp) }

// spanTable declares the spans table's columns, in the table's order.
var spanTable = tableDef[spanRows]{name: "spans", columns: []colDef[spanRows]{
	strCol("tenant_id", func(r *spanRows) []string { return r.tenant }),
	dateTimeCol("timestamp", func(r *spanRows) []time.Time { return r.timestamp }),
	uint64Col("start_time_unix_nano", func(r *spanRows) []uint64 { return r.start }),
	uint64Col("end_time_unix_nano", func(r *spanRows) []uint64 { return r.end }),
	uint64Col("duration_ns", func(r *spanRows) []uint64 { return r.duration }),
	strCol("trace_id", func(r *spanRows) []string { return r.traceID }),
	strCol("span_id", func(r *spanRows) []string { return r.spanID }),
	strCol("parent_span_id", func(r *spanRows) []string { return r.parentSpanID }),
	strCol("trace_state", func(r *spanRows) []string { return r.traceState }),
	strCol("name", func(r *spanRows) []string { return r.name }),
	enum8Col("kind", spanKindNames, func(r *spanRows) []proto.Enum8 { return r.kind }),
	enum8Col("status_code", statusCodeNames, func(r *spanRows) []proto.Enum8 { return r.statusCode }),
	strCol("status_message", func(r *spanRows) []string { return r.statusMessage }),
	strCol("service_name", func(r *spanRows) []string { return r.service }),
	strArrayCol("attribute_keys", func(r *spanRows) [][]string { return r.attrKeys }),
	strArrayCol("attribute_values", func(r *spanRows) [][]string { return r.attrValues }),
	strArrayCol("resource_attribute_keys", func(r *spanRows) [][]string { return r.resKeys }),
	strArrayCol("resource_attribute_values", func(r *spanRows) [][]string { return r.resValues }),
	strCol("scope_name", func(r *spanRows) []string { return r.scopeName }),
	strCol("scope_version", func(r *spanRows) []string { return r.scopeVersion }),
	strCol("token_id", func(r *spanRows) []string { return r.tokenID }),
	uint64Col("stream_seq", func(r *spanRows) []uint64 { return r.seq }),
	uint16Col("stream_partition", func(r *spanRows) []uint16 { return r.partition }),
	uint32Col("flags", func(r *spanRows) []uint32 { return r.flags }),
	uint32Col("dropped_attributes_count", func(r *spanRows) []uint32 { return r.droppedAttrs }),
	uint32Col("dropped_events_count", func(r *spanRows) []uint32 { return r.droppedEvents }),
	uint32Col("dropped_links_count", func(r *spanRows) []uint32 { return r.droppedLinks }),
	uint64ArrayCol("event_times", func(r *spanRows) [][]uint64 { return r.eventTimes }),
	strArrayCol("event_names", func(r *spanRows) [][]string { return r.eventNames }),
	strArrayArrayCol("event_attribute_keys", func(r *spanRows) [][][]string { return r.eventKeys }),
	strArrayArrayCol("event_attribute_values", func(r *spanRows) [][][]string { return r.eventValues }),
	uint32ArrayCol("event_dropped_attributes_counts", func(r *spanRows) [][]uint32 { return r.eventDropped }),
	strArrayCol("link_trace_ids", func(r *spanRows) [][]string { return r.linkTraceIDs }),
	strArrayCol("link_span_ids", func(r *spanRows) [][]string { return r.linkSpanIDs }),
	strArrayCol("link_trace_states", func(r *spanRows) [][]string { return r.linkTraceStates }),
	uint32ArrayCol("link_flags", func(r *spanRows) [][]uint32 { return r.linkFlags }),
	strArrayArrayCol("link_attribute_keys", func(r *spanRows) [][][]string { return r.linkKeys }),
	strArrayArrayCol("link_attribute_values", func(r *spanRows) [][][]string { return r.linkValues }),
	uint32ArrayCol("link_dropped_attributes_counts", func(r *spanRows) [][]uint32 { return r.linkDropped }),
	strArrayCol("scope_attribute_keys", func(r *spanRows) [][]string { return r.scopeKeys }),
	strArrayCol("scope_attribute_values", func(r *spanRows) [][]string { return r.scopeValues }),
	strCol("resource_schema_url", func(r *spanRows) []string { return r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *spanRows) []string { return r.scopeSchema }),
	int32Col("kind_number", func(r *spanRows) []int32 { return r.kindNumber }),
	int32Col("status_number", func(r *spanRows) []int32 { return r.statusNumber }),
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
}

// scopeInfo is an instrumentation scope as every row of it stores it.
type scopeInfo struct {
	name, version, schemaURL string
	keys, values             []string
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
