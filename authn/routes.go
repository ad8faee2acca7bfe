package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Routes serves the credential management API (Shinzo-compatible paths).
type Routes struct {
	store  *Store
	guard  *Guard
	logger *slog.Logger
}

// NewRoutes returns the credential routes.
func NewRoutes(store *Store, guard *Guard, logger *slog.Logger) *Routes {
	return &Routes{store: store, guard: guard, logger: logger}
}

// Register adds the routes to mux.
func (rt *Routes) Register(mux *http.ServeMux) {
	mux.Handle("POST /auth/generate_ingest_token", rt.guard.RequireJWT(http.HandlerFunc(rt.generateIngestToken)))
	mux.Handle("GET /auth/fetch_ingest_tokens", rt.guard.RequireJWT(http.HandlerFunc(rt.fetchIngestTokens)))
}

// IngestTokenView is the public form of a token: never its secret or hash.
type IngestTokenView struct {
	UUID       string     `json:"uuid"`
	Name       string     `json:"name"`
	TenantID   string     `json:"tenant_id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// View returns the public form of t.
func (t IngestToken) View() IngestTokenView {
	return IngestTokenView{
		UUID: t.ID, Name: t.Name, TenantID: t.Tenant, Status: t.Status, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt,
	}
}

type generateRequest struct {
	Name      string `json:"name"`
	ExpiresIn int64  `json:"expires_in"` // seconds; 0 = never
}

const maxManagementBody = 64 << 10

func (rt *Routes) generateIngestToken(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req generateRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManagementBody))
	if err != nil {
		WriteError(w, http.StatusRequestEntityTooLarge, errors.New("request body too large"))
		return
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
			return
		}
	}
	if req.ExpiresIn < 0 {
		WriteError(w, http.StatusBadRequest, errors.New("expires_in must be a positive number of seconds"))
		return
	}
	if len(req.Name) > 200 {
		WriteError(w, http.StatusBadRequest, errors.New("name must be at most 200 characters"))
		return
	}
	var expiresAt *time.Time
	if req.ExpiresIn > 0 {
		t := time.Now().UTC().Add(time.Duration(req.ExpiresIn) * time.Second).Truncate(time.Millisecond)
		expiresAt = &t
	}
	tok, secret, err := rt.store.CreateIngestToken(r.Context(), p.Tenant, req.Name, expiresAt)
	if err != nil {
		rt.logger.Error("create ingest token", "tenant", p.Tenant, "err", err)
		WriteError(w, errorStatus(err), errors.New("could not create the token"))
		return
	}
	rt.logger.Info("ingest token created", "tenant", p.Tenant, "token_id", tok.ID, "by", p.Subject)
	WriteJSON(w, http.StatusOK, struct {
		IngestTokenView
		Token string `json:"token"`
	}{tok.View(), secret})
}

func (rt *Routes) fetchIngestTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	views := []IngestTokenView{}
	for _, t := range rt.store.ListIngestTokens(p.Tenant) {
		views = append(views, t.View())
	}
	WriteJSON(w, http.StatusOK, map[string]any{"tokens": views})
}
