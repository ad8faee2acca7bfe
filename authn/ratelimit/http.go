package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// WriteHeaders sets X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (unix seconds, rounded up so a client waiting until then
// finds a full bucket) and, when the request was refused, Retry-After in whole
// seconds. An unlimited decision (Limit == 0) writes no headers: there is no
// limit to report, and a made-up one would mislead clients into throttling.
func WriteHeaders(h http.Header, d Decision) {
	if d.Limit == 0 {
		return
	}
	reset := d.Reset.Unix()
	if d.Reset.Nanosecond() > 0 {
		reset++
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	if !d.Allowed {
		secs := int64(d.RetryAfter / time.Second)
		if d.RetryAfter%time.Second > 0 {
			secs++
		}
		h.Set("Retry-After", strconv.FormatInt(max(1, secs), 10))
	}
}
