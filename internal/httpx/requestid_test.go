package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequestIDs(t *testing.T) {
	var seen string
	h := RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }))
	for _, tt := range []struct{ in, want string }{
		{"abc-123", "abc-123"},
		{"", ""},
		{"bad id\nwith newline", ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.in != "" {
			req.Header.Set("X-Request-Id", tt.in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if got == "" || got != seen {
			t.Fatalf("%q: header %q, context %q", tt.in, got, seen)
		}
		if n := rec.Header().Get("X-Content-Type-Options"); n != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q, want nosniff", n)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("%q: kept as %q", tt.in, got)
		}
		if tt.want == "" && (got == tt.in || len(got) != 16) {
			t.Errorf("%q: want a fresh 16-hex id, got %q", tt.in, got)
		}
	}
}
