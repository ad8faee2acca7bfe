package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	const (
		app   = "https://app.example.com"
		other = "https://evil.example.net"
	)
	listed := []string{app, "http://localhost:3000/"}
	tests := []struct {
		name    string
		origins []string
		method  string
		origin  string
		reqMeth string // Access-Control-Request-Method
		status  int
		next    bool              // request reaches the wrapped handler
		want    map[string]string // headers with exact values; "" means absent
	}{
		{"no config passes through", nil, http.MethodPost, app, "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "", "Vary": "", "Access-Control-Expose-Headers": ""}},
		{"no config preflight reaches handler", nil, http.MethodOptions, app, "POST", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{"listed origin request", listed, http.MethodPost, app, "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": app, "Vary": "Origin", "Access-Control-Expose-Headers": corsExposeHeaders}},
		{"listed origin with trailing slash in config", listed, http.MethodPost, "http://localhost:3000", "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000"}},
		{"unlisted origin request", listed, http.MethodPost, other, "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin", "Access-Control-Expose-Headers": ""}},
		{"no origin", listed, http.MethodPost, "", "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{"listed origin preflight", listed, http.MethodOptions, app, "POST", http.StatusNoContent, false,
			map[string]string{
				"Access-Control-Allow-Origin":  app,
				"Access-Control-Allow-Methods": "POST, GET, OPTIONS",
				"Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding, X-API-Key, Idempotency-Key, traceparent, tracestate",
				"Access-Control-Max-Age":       "86400",
				"Vary":                         "Origin",
			}},
		{"unlisted origin preflight", listed, http.MethodOptions, other, "POST", http.StatusForbidden, false,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Headers": ""}},
		{"options without request method is no preflight", listed, http.MethodOptions, app, "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Methods": ""}},
		{"wildcard request", []string{"*"}, http.MethodPost, other, "", http.StatusOK, true,
			map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "", "Access-Control-Allow-Credentials": "",
				"Access-Control-Expose-Headers": corsExposeHeaders}},
		{"wildcard preflight", []string{"*"}, http.MethodOptions, other, "POST", http.StatusNoContent, false,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Max-Age": "86400", "Access-Control-Allow-Credentials": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached := false
			h := CORS(tc.origins, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(tc.method, "/v1/traces", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.reqMeth != "" {
				req.Header.Set("Access-Control-Request-Method", tc.reqMeth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if reached != tc.next {
				t.Errorf("handler reached = %v, want %v", reached, tc.next)
			}
			for k, v := range tc.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
