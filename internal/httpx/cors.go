package httpx

import (
	"net/http"
	"strings"
)

// The CORS answers: browsers may POST OTLP with the headers our clients use, and read the
// rate-limit headers so a web SDK can back off.
const (
	corsAllowMethods  = "POST, GET, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Content-Encoding, X-API-Key, Idempotency-Key, traceparent, tracestate"
	corsExposeHeaders = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
	corsMaxAge        = "86400" // a day of cached preflights: one per page load is costly for exporters
)

// CORS lets browsers from allowedOrigins call next. An empty list adds nothing (browsers
// then refuse cross-origin calls); "*" admits any origin without credentials; otherwise
// the request's Origin is echoed when it is listed. Preflights are answered here and
// never reach next.
func CORS(allowedOrigins []string, next http.Handler) http.Handler {
	if len(allowedOrigins) == 0 {
		return next
	}
	c := &cors{next: next, origins: make(map[string]bool, len(allowedOrigins))}
	for _, o := range allowedOrigins {
		o = normalizeOrigin(o)
		if o == "*" {
			c.any = true
		}
		c.origins[o] = true
	}
	return c
}

type cors struct {
	next    http.Handler
	origins map[string]bool
	any     bool
}

func (c *cors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if !c.any {
		// The answer depends on Origin, so shared caches must key on it, even when
		// this request has none or a refused one.
		h.Add("Vary", "Origin")
	}
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	allowed := origin != "" && (c.any || c.origins[normalizeOrigin(origin)])
	if preflight {
		if !allowed {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		c.allowOrigin(h, origin)
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if allowed {
		c.allowOrigin(h, origin)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
	c.next.ServeHTTP(w, r)
}

func (c *cors) allowOrigin(h http.Header, origin string) {
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
}

// normalizeOrigin makes configured and sent origins comparable: browsers send scheme and
// host in lower case without a trailing slash, configuration may not.
func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}
