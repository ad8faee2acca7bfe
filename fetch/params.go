package fetch

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bounding every query.
const (
	DefaultLimit = 25
	MaxLimit     = 1000
	MaxOffset    = 100_000
	MaxWindow    = 31 * 24 * time.Hour

	// MaxAttrFilters bounds the attr.<key>=<value> filters of one request: each one is a
	// term every scanned row is tested against.
	MaxAttrFilters = 20
	// MaxValueLen bounds a filter value in bytes (names, services, attribute values).
	MaxValueLen = 1024
	// MaxAttrKeyLen bounds an attribute key in bytes.
	MaxAttrKeyLen = 256
	// maxDurationMs bounds the duration filters (about 115 days), far past any span,
	// so that the conversion to nanoseconds cannot overflow.
	maxDurationMs = 1e10
)

// paramError is a bad query parameter; its message names the parameter.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badParam(name, format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf("parameter %s: %s", name, fmt.Sprintf(format, args...))}
}

// query holds the common parameters of a fetch request. Each endpoint uses the filters
// that apply to its signal and ignores the others.
type query struct {
	start, end  time.Time
	limit       int
	offset      int
	serviceName string

	// sort is the sort parameter as given (lower case); each endpoint maps it through
	// its own allow-list (resolveSort), so no client text ever becomes SQL.
	sort string
	desc bool
	// cursor continues a keyset-paged listing; when set, offset is ignored.
	cursor *cursor

	status       string // ok, error or unset; "" = any
	traceID      string // 32 lower-case hex digits; "" = any
	name         string // exact span name
	nameContains string // case-insensitive substring of the span name
	attrs        []attrFilter
	minDuration  time.Duration
	maxDuration  time.Duration
	hasMaxDur    bool // max_duration_ms=0 is a real filter (zero-length spans)
}

// attrFilter is one attr.<key>=<value> parameter.
type attrFilter struct{ key, value string }

// page is the 1-based page number: from the offset, or carried by the cursor.
func (q query) page() int {
	if q.cursor != nil {
		return q.cursor.Page
	}
	return q.offset/q.limit + 1
}

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
	for _, p := range []struct {
		name string
		dst  *string
	}{{"service_name", &q.serviceName}, {"name", &q.name}, {"name_contains", &q.nameContains}} {
		if *p.dst, err = parseString(v, p.name, MaxValueLen); err != nil {
			return q, err
		}
	}
	if err := q.parseSort(v); err != nil {
		return q, err
	}
	if q.status, err = parseEnum(v, "status", "ok", "error", "unset"); err != nil {
		return q, err
	}
	if s := strings.TrimSpace(v.Get("trace_id")); s != "" {
		if q.traceID, err = parseTraceID("trace_id", s); err != nil {
			return q, err
		}
	}
	if q.attrs, err = parseAttrs(v); err != nil {
		return q, err
	}
	if err := q.parseDurations(v); err != nil {
		return q, err
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return q, err
		}
		q.cursor = &c
	}
	return q, nil
}

// parseSort reads sort (checked later against the endpoint's allow-list) and
// sortDirection (default desc: newest first).
func (q *query) parseSort(v url.Values) error {
	q.sort = strings.ToLower(strings.TrimSpace(v.Get("sort")))
	if len(q.sort) > 64 {
		return badParam("sort", "unknown sort column")
	}
	dir, err := parseEnum(v, "sortDirection", "asc", "desc")
	if err != nil {
		return err
	}
	q.desc = dir != "asc"
	return nil
}

func (q *query) parseDurations(v url.Values) error {
	var err error
	var set bool
	if q.minDuration, _, err = parseDurationMs(v, "min_duration_ms"); err != nil {
		return err
	}
	if q.maxDuration, set, err = parseDurationMs(v, "max_duration_ms"); err != nil {
		return err
	}
	q.hasMaxDur = set
	if set && q.maxDuration < q.minDuration {
		return badParam("max_duration_ms", "must not be less than min_duration_ms")
	}
	return nil
}

// parseDurationMs reads a non-negative number of milliseconds (fractions allowed).
func parseDurationMs(v url.Values, name string) (time.Duration, bool, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return 0, false, nil
	}
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return 0, false, badParam(name, "%q is not a number of milliseconds", s)
	}
	if ms < 0 || ms > maxDurationMs {
		return 0, false, badParam(name, "must be between 0 and %.0f", float64(maxDurationMs))
	}
	return time.Duration(ms * float64(time.Millisecond)), true, nil
}

// parseAttrs reads every attr.<key>=<value> parameter, in key order so that the SQL
// of a request does not depend on map iteration.
func parseAttrs(v url.Values) ([]attrFilter, error) {
	var out []attrFilter
	keys := make([]string, 0)
	for k := range v {
		if strings.HasPrefix(k, "attr.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := strings.TrimPrefix(k, "attr.")
		if key == "" || len(key) > MaxAttrKeyLen || !utf8.ValidString(key) {
			return nil, badParam(k, "the attribute key must be 1 to %d bytes of UTF-8", MaxAttrKeyLen)
		}
		for _, val := range v[k] {
			if len(val) > MaxValueLen || !utf8.ValidString(val) {
				return nil, badParam(k, "the value must be at most %d bytes of UTF-8", MaxValueLen)
			}
			out = append(out, attrFilter{key: key, value: val})
		}
	}
	if len(out) > MaxAttrFilters {
		return nil, badParam("attr.*", "at most %d attribute filters", MaxAttrFilters)
	}
	return out, nil
}

// parseString reads a free-text filter value: bounded and valid UTF-8, bound to the
// query as a value (never spliced), so any other content is harmless.
func parseString(v url.Values, name string, maxLen int) (string, error) {
	s := v.Get(name)
	if len(s) > maxLen {
		return "", badParam(name, "at most %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return "", badParam(name, "not valid UTF-8")
	}
	return s, nil
}

// parseEnum reads a parameter that takes one of allowed (case-insensitive); "" = absent.
func parseEnum(v url.Values, name string, allowed ...string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(v.Get(name)))
	if s == "" {
		return "", nil
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", badParam(name, "must be one of %s", strings.Join(allowed, ", "))
}

// parseTraceID accepts 32 hex digits and returns them in lower case, as stored.
func parseTraceID(name, s string) (string, error) {
	if len(s) != 32 {
		return "", badParam(name, "must be 32 hex digits")
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", badParam(name, "must be 32 hex digits")
	}
	return strings.ToLower(s), nil
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
		return checkYear(name, time.UnixMilli(ms).UTC())
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam(name, "%q is neither unix milliseconds nor RFC 3339", s)
	}
	if t.Before(time.Unix(0, 0)) {
		return time.Time{}, badParam(name, "must not be before 1970")
	}
	return checkYear(name, t.UTC())
}

// checkYear keeps times within what unix nanoseconds in a UInt64 column can hold.
func checkYear(name string, t time.Time) (time.Time, error) {
	if t.Year() > 2200 {
		return time.Time{}, badParam(name, "must be before the year 2200")
	}
	return t, nil
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
