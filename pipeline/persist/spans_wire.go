package persist

import (
	"fmt"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"google.golang.org/protobuf/encoding/protowire"
)

// Span kinds and status codes by their OTLP number, for the Enum8 columns; any other
// number is stored there as the first name and, like every one, as sent in
// kind_number / status_number.
var (
	spanKindNames   = []string{"unspecified", "internal", "server", "client", "producer", "consumer"}
	statusCodeNames = []string{"unset", "ok", "error"}
)

func enumAt(names []string, v int32) proto.Enum8 {
	if v >= 0 && int(v) < len(names) {
		return proto.Enum8(v)
	}
	return 0
}

// decodeSpans turns an OTLP ExportTraceServiceRequest into rows of the spans table.
func decodeSpans(payload []byte, meta eventMeta) (rowSet, error) {
	r := &spanRows{}
	r.reserve(countSpans(payload))
	if err := eachBytes(payload, 1, func(rs []byte) error { return r.resourceSpans(rs, meta) }); err != nil {
		return nil, err
	}
	return r, nil
}

// countSpans counts the spans of a request without decoding them, to size the columns.
func countSpans(payload []byte) int {
	n := 0
	rs := fields{msg: payload}
	for rs.next() {
		if rs.cur.num != 1 || rs.cur.typ != protowire.BytesType {
			continue
		}
		ss := fields{msg: rs.cur.data}
		for ss.next() {
			if ss.cur.num == 2 && ss.cur.typ == protowire.BytesType {
				n += countFields(ss.cur.data, 2)
			}
		}
	}
	return n
}

func (r *spanRows) reserve(n int) {
	r.tenant, r.traceID, r.spanID, r.parentSpanID = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	r.traceState, r.name, r.kind, r.statusCode = make([]string, 0, n), make([]string, 0, n), make([]proto.Enum8, 0, n), make([]proto.Enum8, 0, n)
	r.statusMessage, r.service, r.scopeName, r.scopeVersion = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	r.resourceSchemaURL, r.scopeSchema, r.tokenID = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	r.timestamp = make([]time.Time, 0, n)
	r.start, r.end, r.duration, r.seq = make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, n)
	r.flags, r.droppedAttrs, r.droppedEvents, r.droppedLinks = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
	r.partition = make([]uint16, 0, n)
	r.kindNumber, r.statusNumber = make([]int32, 0, n), make([]int32, 0, n)
	r.attrKeys, r.attrValues, r.resKeys, r.resValues = make([][]string, 0, n), make([][]string, 0, n), make([][]string, 0, n), make([][]string, 0, n)
	r.scopeKeys, r.scopeValues = make([][]string, 0, n), make([][]string, 0, n)
	r.eventTimes = make([][]uint64, 0, n)
	r.eventNames, r.linkTraceIDs, r.linkSpanIDs, r.linkTraceStates = make([][]string, 0, n), make([][]string, 0, n), make([][]string, 0, n), make([][]string, 0, n)
	r.eventDropped, r.linkFlags, r.linkDropped = make([][]uint32, 0, n), make([][]uint32, 0, n), make([][]uint32, 0, n)
	r.eventKeys, r.eventValues, r.linkKeys, r.linkValues = make([][][]string, 0, n), make([][][]string, 0, n), make([][][]string, 0, n), make([][][]string, 0, n)
}

// readResource reads the resource (field 1) and schema URL (field schemaField) of a
// ResourceSpans/ResourceLogs/ResourceMetrics message, wherever they sit in it.
func (a *arena) readResource(msg []byte, schemaField protowire.Number) (resourceInfo, error) {
	var res resourceInfo
	body, err := merged(msg, 1)
	if err != nil {
		return res, err
	}
	if res.keys, res.values, err = a.attributes(body, 1); err != nil {
		return res, fmt.Errorf("resource: %w", err)
	}
	for i, k := range res.keys {
		if k == "service.name" {
			res.service = res.values[i]
			break
		}
	}
	res.schemaURL, err = lastString(msg, schemaField)
	return res, err
}

// readScope reads the scope (field 1) and schema URL (field 3) of a ScopeSpans/
// ScopeLogs/ScopeMetrics message.
func (a *arena) readScope(msg []byte) (scopeInfo, error) {
	var sc scopeInfo
	body, err := merged(msg, 1)
	if err != nil {
		return sc, err
	}
	it := fields{msg: body}
	for it.next() {
		switch it.cur.num {
		case 1, 2: // name, version
			if err := it.cur.want(protowire.BytesType); err != nil {
				return sc, err
			}
			if it.cur.num == 1 {
				sc.name = wireString(it.cur.data)
			} else {
				sc.version = wireString(it.cur.data)
			}
		}
	}
	if it.err != nil {
		return sc, it.err
	}
	if sc.keys, sc.values, err = a.attributes(body, 3); err != nil {
		return sc, fmt.Errorf("scope: %w", err)
	}
	sc.schemaURL, err = lastString(msg, 3)
	return sc, err
}

func (r *spanRows) resourceSpans(msg []byte, meta eventMeta) error {
	res, err := r.arena.readResource(msg, 3)
	if err != nil {
		return err
	}
	return eachBytes(msg, 2, func(scopeSpans []byte) error { // scope_spans
		sc, err := r.arena.readScope(scopeSpans)
		if err != nil {
			return err
		}
		return eachBytes(scopeSpans, 2, func(span []byte) error { // spans
			if err := r.span(span, meta, &res, &sc); err != nil {
				return fmt.Errorf("span: %w", err)
			}
			return nil
		})
	})
}

// span appends one Span message as a row.
func (r *spanRows) span(msg []byte, meta eventMeta, res *resourceInfo, sc *scopeInfo) error {
	a := &r.arena
	var (
		traceID, spanID, parentID, traceState, name, statusMessage string
		kind, statusCode, start, end                               uint64
		flags, droppedAttrs, droppedEvents, droppedLinks           uint32
		nEvents, nLinks                                            int
		err                                                        error
	)
	it := fields{msg: msg}
	for it.next() {
		f := it.cur
		switch f.num {
		case 1, 2, 4: // trace_id, span_id, parent_span_id
			if err = f.want(protowire.BytesType); err != nil {
				return err
			}
			size := 8
			if f.num == 1 {
				size = 16
			}
			id, err := a.hexID(f.data, size)
			if err != nil {
				return err
			}
			switch f.num {
			case 1:
				traceID = id
			case 2:
				spanID = id
			default:
				parentID = id
			}
		case 3, 5: // trace_state, name
			if err = f.want(protowire.BytesType); err != nil {
				return err
			}
			if f.num == 3 {
				traceState = wireString(f.data)
			} else {
				name = wireString(f.data)
			}
		case 6, 10, 12, 14: // kind, dropped attributes/events/links counts
			if err = f.want(protowire.VarintType); err != nil {
				return err
			}
			switch f.num {
			case 6:
				kind = f.u64
			case 10:
				droppedAttrs = uint32(f.u64)
			case 12:
				droppedEvents = uint32(f.u64)
			default:
				droppedLinks = uint32(f.u64)
			}
		case 7, 8: // start and end time
			if err = f.want(protowire.Fixed64Type); err != nil {
				return err
			}
			if f.num == 7 {
				start = f.u64
			} else {
				end = f.u64
			}
		case 16: // flags
			if err = f.want(protowire.Fixed32Type); err != nil {
				return err
			}
			flags = uint32(f.u64)
		case 9, 11, 13, 15: // attributes, events, links, status
			if err = f.want(protowire.BytesType); err != nil {
				return err
			}
			switch f.num {
			case 11:
				nEvents++
			case 13:
				nLinks++
			case 15:
				if statusMessage, statusCode, err = status(f.data, statusMessage, statusCode); err != nil {
					return err
				}
			}
		}
	}
	if it.err != nil {
		return it.err
	}
	if err := checkTimes(stamp{"start_time_unix_nano", start}, stamp{"end_time_unix_nano", end}); err != nil {
		return err
	}
	keys, values, err := a.attributes(msg, 9)
	if err != nil {
		return err
	}
	if err := r.events(msg, nEvents); err != nil {
		return err
	}
	if err := r.links(msg, nLinks); err != nil {
		return err
	}
	duration := uint64(0)
	if end > start {
		duration = end - start
	}
	ts := nanosTime(start)
	r.tenant = append(r.tenant, meta.tenant)
	r.timestamp = append(r.timestamp, ts)
	r.start, r.end, r.duration = append(r.start, start), append(r.end, end), append(r.duration, duration)
	r.traceID, r.spanID, r.parentSpanID = append(r.traceID, traceID), append(r.spanID, spanID), append(r.parentSpanID, parentID)
	r.traceState, r.name = append(r.traceState, traceState), append(r.name, name)
	// OTLP enums are int32: a negative one is sent sign-extended to 64 bits.
	kindNumber, statusNumber := int32(kind), int32(statusCode)
	r.kind, r.kindNumber = append(r.kind, enumAt(spanKindNames, kindNumber)), append(r.kindNumber, kindNumber)
	r.statusCode, r.statusMessage = append(r.statusCode, enumAt(statusCodeNames, statusNumber)), append(r.statusMessage, statusMessage)
	r.statusNumber = append(r.statusNumber, statusNumber)
	r.service = append(r.service, res.service)
	r.attrKeys, r.attrValues = append(r.attrKeys, keys), append(r.attrValues, values)
	r.resKeys, r.resValues = append(r.resKeys, res.keys), append(r.resValues, res.values)
	r.scopeName, r.scopeVersion = append(r.scopeName, sc.name), append(r.scopeVersion, sc.version)
	r.flags, r.droppedAttrs = append(r.flags, flags), append(r.droppedAttrs, droppedAttrs)
	r.droppedEvents, r.droppedLinks = append(r.droppedEvents, droppedEvents), append(r.droppedLinks, droppedLinks)
	r.scopeKeys, r.scopeValues = append(r.scopeKeys, sc.keys), append(r.scopeValues, sc.values)
	r.resourceSchemaURL, r.scopeSchema = append(r.resourceSchemaURL, res.schemaURL), append(r.scopeSchema, sc.schemaURL)
	r.tokenID, r.seq, r.partition = append(r.tokenID, meta.tokenID), append(r.seq, meta.seq), append(r.partition, meta.partition)
	return nil
}

// status reads a Status message (message 2, code 3) over the values so far: a
// repeated status merges, as in protobuf.
func status(msg []byte, message string, code uint64) (string, uint64, error) {
	it := fields{msg: msg}
	for it.next() {
		switch it.cur.num {
		case 2:
			if err := it.cur.want(protowire.BytesType); err != nil {
				return "", 0, err
			}
			message = wireString(it.cur.data)
		case 3:
			if err := it.cur.want(protowire.VarintType); err != nil {
				return "", 0, err
			}
			code = it.cur.u64
		}
	}
	return message, code, it.err
}

// events appends the span's n events (field 11) as the parallel arrays of its row.
func (r *spanRows) events(span []byte, n int) error {
	if n == 0 {
		r.eventTimes, r.eventNames, r.eventDropped = append(r.eventTimes, nil), append(r.eventNames, nil), append(r.eventDropped, nil)
		r.eventKeys, r.eventValues = append(r.eventKeys, nil), append(r.eventValues, nil)
		return nil
	}
	times, names, dropped := make([]uint64, 0, n), make([]string, 0, n), make([]uint32, 0, n)
	keys, values := make([][]string, 0, n), make([][]string, 0, n)
	it := fields{msg: span}
	for it.next() {
		if it.cur.num != 11 {
			continue
		}
		var t uint64
		var name string
		var d uint32
		ev := fields{msg: it.cur.data}
		for ev.next() {
			f := ev.cur
			var err error
			switch f.num {
			case 1:
				err = f.want(protowire.Fixed64Type)
				t = f.u64
			case 2:
				err = f.want(protowire.BytesType)
				name = wireString(f.data)
			case 4:
				err = f.want(protowire.VarintType)
				d = uint32(f.u64)
			}
			if err != nil {
				return fmt.Errorf("event: %w", err)
			}
		}
		if ev.err != nil {
			return ev.err
		}
		if err := checkTimes(stamp{"event time_unix_nano", t}); err != nil {
			return fmt.Errorf("event: %w", err)
		}
		k, v, err := r.arena.attributes(it.cur.data, 3)
		if err != nil {
			return fmt.Errorf("event: %w", err)
		}
		times, names, dropped = append(times, t), append(names, name), append(dropped, d)
		keys, values = append(keys, k), append(values, v)
	}
	r.eventTimes, r.eventNames, r.eventDropped = append(r.eventTimes, times), append(r.eventNames, names), append(r.eventDropped, dropped)
	r.eventKeys, r.eventValues = append(r.eventKeys, keys), append(r.eventValues, values)
	return it.err
}

// links appends the span's n links (field 13) as the parallel arrays of its row.
func (r *spanRows) links(span []byte, n int) error {
	if n == 0 {
		r.linkTraceIDs, r.linkSpanIDs, r.linkTraceStates = append(r.linkTraceIDs, nil), append(r.linkSpanIDs, nil), append(r.linkTraceStates, nil)
		r.linkFlags, r.linkDropped = append(r.linkFlags, nil), append(r.linkDropped, nil)
		r.linkKeys, r.linkValues = append(r.linkKeys, nil), append(r.linkValues, nil)
		return nil
	}
	a := &r.arena
	traceIDs, spanIDs, states := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	flags, dropped := make([]uint32, 0, n), make([]uint32, 0, n)
	keys, values := make([][]string, 0, n), make([][]string, 0, n)
	it := fields{msg: span}
	for it.next() {
		if it.cur.num != 13 {
			continue
		}
		var tid, sid, state string
		var fl, d uint32
		ln := fields{msg: it.cur.data}
		for ln.next() {
			f := ln.cur
			var err error
			switch f.num {
			case 1:
				if err = f.want(protowire.BytesType); err == nil {
					tid, err = a.hexID(f.data, 16)
				}
			case 2:
				if err = f.want(protowire.BytesType); err == nil {
					sid, err = a.hexID(f.data, 8)
				}
			case 3:
				err = f.want(protowire.BytesType)
				state = wireString(f.data)
			case 5:
				err = f.want(protowire.VarintType)
				d = uint32(f.u64)
			case 6:
				err = f.want(protowire.Fixed32Type)
				fl = uint32(f.u64)
			}
			if err != nil {
				return fmt.Errorf("link: %w", err)
			}
		}
		if ln.err != nil {
			return ln.err
		}
		k, v, err := a.attributes(it.cur.data, 4)
		if err != nil {
			return fmt.Errorf("link: %w", err)
		}
		traceIDs, spanIDs, states = append(traceIDs, tid), append(spanIDs, sid), append(states, state)
		flags, dropped = append(flags, fl), append(dropped, d)
		keys, values = append(keys, k), append(values, v)
	}
	r.linkTraceIDs, r.linkSpanIDs, r.linkTraceStates = append(r.linkTraceIDs, traceIDs), append(r.linkSpanIDs, spanIDs), append(r.linkTraceStates, states)
	r.linkFlags, r.linkDropped = append(r.linkFlags, flags), append(r.linkDropped, dropped)
	r.linkKeys, r.linkValues = append(r.linkKeys, keys), append(r.linkValues, values)
	return it.err
}
