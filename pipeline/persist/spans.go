package persist

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/telemetryd/telemetryd/schema"
)

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

func newResourceInfo(r pcommon.Resource, schemaURL string) resourceInfo {
	keys, values := attributes(r.Attributes())
	service := ""
	if v, ok := r.Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	return resourceInfo{service: service, keys: keys, values: values, schemaURL: schemaURL}
}

// scopeInfo is an instrumentation scope as every row of it stores it.
type scopeInfo struct {
	name, version, schemaURL string
	keys, values             []string
}

func newScopeInfo(s pcommon.InstrumentationScope, schemaURL string) scopeInfo {
	keys, values := attributes(s.Attributes())
	return scopeInfo{name: s.Name(), version: s.Version(), schemaURL: schemaURL, keys: keys, values: values}
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

func enumName[K comparable](names map[K]string, k K, fallback string) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fallback
}

// attributes flattens a map into parallel key and value arrays; non-string values take
// their JSON form.
func attributes(m pcommon.Map) ([]string, []string) {
	keys := make([]string, 0, m.Len())
	values := make([]string, 0, m.Len())
	for k, v := range m.All() {
		keys = append(keys, k)
		values = append(values, v.AsString())
	}
	return keys, values
}
