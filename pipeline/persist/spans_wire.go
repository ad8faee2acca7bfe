package persist

import (
	"fmt"

	"github.com/ClickHouse/ch-go/proto"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/pipeline/stream"
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

// decodeSpans decodes an OTLP ExportTraceServiceRequest into a column set of its own.
func decodeSpans(payload []byte, meta eventMeta) (rowSet, error) {
	return tables[stream.SignalTraces].decode(payload, meta)
}

// decode appends the spans of an OTLP ExportTraceServiceRequest as rows.
func (r *spanColumns) decode(payload []byte, meta eventMeta) error {
	r.arena.reset()
	return eachBytes(payload, 1, func(rs []byte) error { return r.resourceSpans(rs, meta) })
}

// readResource reads the resource (field 1) and schema URL (field schemaField) of a
// ResourceSpans/ResourceLogs/ResourceMetrics message, wherever they sit in it.
func (a *arena) readResource(msg []byte, schemaField protowire.Number) (resourceInfo, error) {
	res := resourceInfo{id: a.nextGroup()}
	body, schemaURL, err := mergedAndLast(msg, 1, schemaField)
	if err != nil {
		return res, err
	}
	res.schemaURL = schemaURL
	if res.keys, res.values, err = a.attributes(body, 1); err != nil {
		return res, fmt.Errorf("resource: %w", err)
	}
	for i, k := range res.keys {
		if k == "service.name" {
			res.service = res.values[i]
			break
		}
	}
	return res, nil
}

// readScope reads the scope (field 1) and schema URL (field 3) of a ScopeSpans/
// ScopeLogs/ScopeMetrics message.
func (a *arena) readScope(msg []byte) (scopeInfo, error) {
	sc := scopeInfo{id: a.nextGroup()}
	body, schemaURL, err := mergedAndLast(msg, 1, 3)
	if err != nil {
		return sc, err
	}
	sc.schemaURL = schemaURL
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
	return sc, nil
}

func (r *spanColumns) resourceSpans(msg []byte, meta eventMeta) error {
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

// span appends one Span message as a row. Its arrays' elements are appended as they
// come; the event's rollback (columnSet.decode) removes a row left half-written.
func (r *spanColumns) span(msg []byte, meta eventMeta, res *resourceInfo, sc *scopeInfo) error {
	var (
		traceID, spanID, parentID                        []byte
		traceState, name, statusMessage                  string
		kind, statusCode, start, end                     uint64
		flags, droppedAttrs, droppedEvents, droppedLinks uint32
		err                                              error
	)
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		switch f.num {
		case 1, 2, 4: // trace_id, span_id, parent_span_id
			if err = f.want(protowire.BytesType); err != nil {
				return err
			}
			size := 8
			if f.num == 1 {
				size = 16
			}
			if len(f.data) != 0 && len(f.data) != size {
				return errIDLength
			}
			switch f.num {
			case 1:
				traceID = f.data
			case 2:
				spanID = f.data
			default:
				parentID = f.data
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
			case 9:
				err = appendKeyValue(f.data, &r.attrKeys.data, &r.attrValues.data)
			case 11:
				err = r.event(f.data)
			case 13:
				err = r.link(f.data)
			default:
				statusMessage, statusCode, err = status(f.data, statusMessage, statusCode)
			}
			if err != nil {
				return err
			}
		}
	}
	if it.err != nil {
		return it.err
	}
	if err := checkTimes(stamp{"start_time_unix_nano", start}, stamp{"end_time_unix_nano", end}); err != nil {
		return err
	}
	duration := uint64(0)
	if end > start {
		duration = end - start
	}
	r.tenant.Append(meta.tenant)
	r.timestamp.appendNanos(start)
	r.start.append(start)
	r.end.append(end)
	r.duration.append(duration)
	// Lengths are checked above: these cannot fail.
	_ = r.traceID.appendHexID(traceID, 16)
	_ = r.spanID.appendHexID(spanID, 8)
	_ = r.parentSpanID.appendHexID(parentID, 8)
	r.traceState.Append(traceState)
	r.name.Append(name)
	// OTLP enums are int32: a negative one is sent sign-extended to 64 bits.
	kindNumber, statusNumber := int32(kind), int32(statusCode)
	r.kind.append(enumAt(spanKindNames, kindNumber))
	r.kindNumber.append(kindNumber)
	r.statusCode.append(enumAt(statusCodeNames, statusNumber))
	r.statusMessage.Append(statusMessage)
	r.statusNumber.append(statusNumber)
	r.service.Append(res.service)
	r.attrKeys.closeRow()
	r.attrValues.closeRow()
	r.resKeys.appendRow(res.keys, res.id)
	r.resValues.appendRow(res.values, res.id)
	r.scopeName.Append(sc.name)
	r.scopeVersion.Append(sc.version)
	r.flags.append(flags)
	r.droppedAttrs.append(droppedAttrs)
	r.droppedEvents.append(droppedEvents)
	r.droppedLinks.append(droppedLinks)
	r.eventTimes.closeRow()
	r.eventNames.closeRow()
	r.eventDropped.closeRow()
	r.eventKeys.closeRow()
	r.eventValues.closeRow()
	r.linkTraceIDs.closeRow()
	r.linkSpanIDs.closeRow()
	r.linkTraceStates.closeRow()
	r.linkFlags.closeRow()
	r.linkKeys.closeRow()
	r.linkValues.closeRow()
	r.linkDropped.closeRow()
	r.scopeKeys.appendRow(sc.keys, sc.id)
	r.scopeValues.appendRow(sc.values, sc.id)
	r.resourceSchemaURL.Append(res.schemaURL)
	r.scopeSchema.Append(sc.schemaURL)
	r.tokenID.Append(meta.tokenID)
	r.seq.append(meta.seq)
	r.partition.append(meta.partition)
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

// event appends a span's Event message (its field 11) to the elements of the span's
// event arrays.
func (r *spanColumns) event(msg []byte) error {
	var t uint64
	var name string
	var d uint32
	ev := fields{msg: msg}
	for ev.next() {
		f := &ev.cur
		var err error
		switch f.num {
		case 1:
			err = f.want(protowire.Fixed64Type)
			t = f.u64
		case 2:
			err = f.want(protowire.BytesType)
			name = wireString(f.data)
		case 3:
			if err = f.want(protowire.BytesType); err == nil {
				err = appendKeyValue(f.data, &r.eventKeys.data.data, &r.eventValues.data.data)
			}
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
	r.eventTimes.data.append(t)
	r.eventNames.data.Append(name)
	r.eventDropped.data.append(d)
	r.eventKeys.data.closeRow()
	r.eventValues.data.closeRow()
	return nil
}

// link appends a span's Link message (its field 13) to the elements of the span's
// link arrays.
func (r *spanColumns) link(msg []byte) error {
	var tid, sid []byte
	var state string
	var fl, d uint32
	ln := fields{msg: msg}
	for ln.next() {
		f := &ln.cur
		var err error
		switch f.num {
		case 1, 2:
			if err = f.want(protowire.BytesType); err == nil {
				size := 16
				if f.num == 2 {
					size = 8
				}
				if len(f.data) != 0 && len(f.data) != size {
					err = errIDLength
				} else if f.num == 1 {
					tid = f.data
				} else {
					sid = f.data
				}
			}
		case 3:
			err = f.want(protowire.BytesType)
			state = wireString(f.data)
		case 4:
			if err = f.want(protowire.BytesType); err == nil {
				err = appendKeyValue(f.data, &r.linkKeys.data.data, &r.linkValues.data.data)
			}
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
	_ = r.linkTraceIDs.data.appendHexID(tid, 16)
	_ = r.linkSpanIDs.data.appendHexID(sid, 8)
	r.linkTraceStates.data.Append(state)
	r.linkFlags.data.append(fl)
	r.linkDropped.data.append(d)
	r.linkKeys.data.closeRow()
	r.linkValues.data.closeRow()
	return nil
}
