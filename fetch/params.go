package fetch

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits bounding every query.
const (
	DefaultLimit = 25
	MaxLimit     = 1000
	MaxOffset    = 100_000
	MaxWindow    = 31 * 24 * time.Hour
)

// paramError is a bad query parameter; its message names the parameter.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badParam(name, format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf("parameter %s: %s", name, fmt.Sprintf(format, args...))}
}

// query holds the common parameters of a fetch request.
type query struct {
	start, end  time.Time
	limit       int
	offset      int
	serviceName string
}

func (q query) page() int { return q.offset/q.limit + 1 }

func totalPages(total uint64, limit int) int {
	return int((total + uint64(limit) - 1) / uint64(limit))
}

func parseQuery(v url.Values) (query, error) {
	var q query
	var err error
	if q.start, err = parseTime(v, "start_time"); err != nil {
		return q, err
	}
	if q.end, err = parseTime(v, "end_time"); err != nil {
		return q, err
	}
	if !q.end.After(q.start) {
		return q, badParam("end_time", "must be after start_time")
	}
	if q.end.Sub(q.start) > MaxWindow {
		return q, badParam("end_time", "the window from start_time may span at most %d days", int(MaxWindow.Hours()/24))
	}
	if q.limit, err = parseInt(v, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return q, err
	}
	if q.offset, err = parseInt(v, "offset", 0, 0, MaxOffset); err != nil {
		return q, err
	}
	q.serviceName = v.Get("service_name")
	return q, nil
}

// parseTime accepts unix milliseconds or RFC 3339.
func parseTime(v url.Values, name string) (time.Time, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return time.Time{}, badParam(name, "required (unix milliseconds or RFC 3339)")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return time.Time{}, badParam(name, "must not be negative")
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam(name, "%q is neither unix milliseconds nor RFC 3339", s)
	}
	if t.Before(time.Unix(0, 0)) {
		return time.Time{}, badParam(name, "must not be before 1970")
	}
	return t.UTC(), nil
}

func parseInt(v url.Values, name string, def, min, max int) (int, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badParam(name, "%q is not an integer", s)
	}
	if n < min || n > max {
		return 0, badParam(name, "must be between %d and %d", min, max)
	}
	return n, nil
}
