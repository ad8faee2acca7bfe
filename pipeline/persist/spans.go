package persist

import (
	"fmt"
	"time"

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
