package fetch

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/telemetryd/telemetryd/schema"
)

// RetryAfter is what a 503 tells the client to wait before asking again: long enough
// for a restarted ClickHouse or a finished query burst, short enough for a dashboard.
const RetryAfter = 5 * time.Second

// answer is how one query error is shown: the status, the message the client sees and
// whether the failure is a bug (logged as an error) rather than the caller's mistake or
// the database's momentary state.
type answer struct {
	status int
	shown  error
	bug    bool
}

// What the client is told; the cause stays in the log.
var (
	errTooSlow     = errors.New("query took too long; narrow the time window or add filters")
	errTooMuch     = errors.New("query would read too much data; narrow the time window or add filters")
	errUnavailable = errors.New("the database is unavailable or overloaded; retry later")
	errQueryFailed = errors.New("query failed")
)

// classify maps the error of a fetch query to its answer, in one place: the caller's
// mistakes are 400/404, a ClickHouse that cannot be reached, is overloaded or took too
// long is 503 (the client may retry after Retry-After), anything else is a bug (500).
func classify(err error) answer {
	var pe *paramError
	var nf *notFoundError
	code := chCode(err)
	switch {
	case errors.As(err, &pe):
		return answer{status: http.StatusBadRequest, shown: err}
	case errors.As(err, &nf):
		return answer{status: http.StatusNotFound, shown: err}
	case code == codeTooManyRows || code == codeTooManyRowsOrBytes:
		return answer{status: http.StatusBadRequest, shown: errTooMuch}
	case code == codeMemoryLimitExceeded && queryMemoryLimit(err):
		// This query alone needed more than --query-max-memory-bytes: asking again
		// will not help, a narrower one will. The server's total limit is overload (503).
		return answer{status: http.StatusBadRequest, shown: errQueryMemory}
	case errors.Is(err, context.DeadlineExceeded) || code == codeTimeoutExceeded || code == codeTooSlow:
		return answer{status: http.StatusServiceUnavailable, shown: errTooSlow}
	case errors.Is(err, context.Canceled) || schema.Unavailable(err):
		// Canceled: the client left; nobody reads this answer, but it is no bug.
		return answer{status: http.StatusServiceUnavailable, shown: errUnavailable}
	}
	return answer{status: http.StatusInternalServerError, shown: errQueryFailed, bug: true}
}

// write sends the answer in the usual {"error": "..."} shape.
func (an answer) write(w http.ResponseWriter, writeError func(http.ResponseWriter, int, error)) {
	if an.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter.Seconds())))
	}
	writeError(w, an.status, an.shown)
}

// ClickHouse exception codes (ErrorCodes.cpp) that mean a query hit its limits.
const (
	codeTooManyRows        = 158
	codeTimeoutExceeded    = 159
	codeTooSlow            = 160
	codeTooManyRowsOrBytes = 396
)

// chCode is the ClickHouse exception code of err, or 0.
func chCode(err error) int32 {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return 0
}

// queryMemoryLimit tells the per-query memory limit from the server's total one: both
// are MEMORY_LIMIT_EXCEEDED, and only the message says which ("Memory limit (for
// query) exceeded" on 18.16, "Query memory limit exceeded" on current servers).
func queryMemoryLimit(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "(for query)") || strings.Contains(msg, "query memory limit")
}
