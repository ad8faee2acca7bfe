package schema

import "time"

// The timestamps the tables can hold. Every signal table keeps its time as a DateTime
// (unsigned 32-bit seconds) partitioned by toDate of it; ClickHouse 18.16's date
// tables end within 2106 (past them toDate answers 0000-00-00) and the DateTime wraps
// at 2106-02-07. Beyond the column, a later time would be stored as another (a
// year-2200 span under 2063) or in a partition retention cannot date. Ingest refuses
// items whose timestamps fall outside [0, MaxTimeUnixNano); persist refuses to write
// one that got through anyway.

// MaxTimeUnixNano is the first unix-nanosecond timestamp the tables cannot hold
// (2106-01-01T00:00:00Z). Zero, "unset" in OTLP, is stored as 1970-01-01.
const MaxTimeUnixNano uint64 = 4291747200 * uint64(time.Second)

// MaxTime is MaxTimeUnixNano as a time.
func MaxTime() time.Time { return time.Unix(0, int64(MaxTimeUnixNano)).UTC() }

// TimeFits reports whether the tables can hold the unix-nanosecond timestamp ns.
func TimeFits(ns uint64) bool { return ns < MaxTimeUnixNano }
