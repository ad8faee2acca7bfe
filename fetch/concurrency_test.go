package fetch

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/telemetryd/telemetryd/authn"
)

// TestTenantQueryCap: past MaxConcurrentPerTenant running queries a tenant gets 429
// with Retry-After, another tenant is still served, and the slot comes back when a
// query ends.
func TestTenantQueryCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConcurrentPerTenant = 2
	a := NewAPI(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	entered, release := make(chan struct{}, 8), make(chan struct{})
	h := a.handle(func(ctx context.Context, tenant string, r *http.Request) (any, error) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		return map[string]string{"tenant": tenant}, nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(authn.WithPrincipal(r.Context(), authn.Principal{Tenant: r.Header.Get("X-Test-Tenant")})))
	}))
	t.Cleanup(srv.Close)
	get := func(tenant, query string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+query, nil)
		req.Header.Set("X-Test-Tenant", tenant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	held := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() { held <- get("acme", "hold=1").StatusCode }()
		<-entered
	}
	if resp := get("acme", ""); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third acme query: status %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := get("globex", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("globex query while acme is at its cap: status %d, want 200", resp.StatusCode)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if code := <-held; code != http.StatusOK {
			t.Errorf("held query: status %d", code)
		}
	}
	if resp := get("acme", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("acme query after its queries ended: status %d, want 200", resp.StatusCode)
	}
}
