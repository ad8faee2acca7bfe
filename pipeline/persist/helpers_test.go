package persist_test

import (
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func ptraceTimestamp(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
