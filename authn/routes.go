package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/telemetryd/telemetryd/internal/httpx"
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
	tokens := rt.guard.Require(ScopeTokensWrite)
	mux.Handle("POST /auth/generate_ingest_token", tokens(http.HandlerFunc(rt.generateIngestToken)))
	mux.Handle("GET /auth/fetch_ingest_tokens", tokens(http.HandlerFunc(rt.fetchIngestTokens)))
	mux.Handle("POST /auth/revoke_ingest_token/{uuid}", tokens(http.HandlerFunc(rt.revokeIngestToken)))
	mux.Handle("POST /auth/rotate_ingest_token/{uuid}", tokens(http.HandlerFunc(rt.rotateIngestToken)))
	// API keys are managed by users only: a key cannot mint or revoke keys.
	keys := rt.guard.RequireUser(ScopeAPIKeysWrite)
	mux.Handle("POST /auth/api_keys", keys(http.HandlerFunc(rt.createAPIKey)))
	mux.Handle("GET /auth/api_keys", keys(http.HandlerFunc(rt.listAPIKeys)))
	mux.Handle("POST /auth/api_keys/{id}/revoke", keys(http.HandlerFunc(rt.revokeAPIKey)))
}

// createRequest is the body of the create routes; every field is optional.
type createRequest struct {
	Name      string    `json:"name"`
	ExpiresIn int64     `json:"expires_in"` // seconds; 0 = never
	RateLimit RateLimit `json:"rate_limit"`
	Scopes    []string  `json:"scopes"` // API keys
	Env       string    `json:"env"`    // API keys
	// GracePeriod is how long a rotated token's old secret keeps working, in seconds.
	GracePeriod int64 `json:"grace_period"`
}

const maxManagementBody = 64 << 10

// decodeBody reads an optional JSON body; it has answered the request when it fails.
func decodeBody(w http.ResponseWriter, r *http.Request, v *createRequest) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManagementBody))
	if err != nil {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, errors.New("request body too large"))
		return false
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, v); err != nil {
			httpx.WriteError(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
			return false
		}
	}
	if v.ExpiresIn < 0 || v.GracePeriod < 0 {
		httpx.WriteError(w, http.StatusBadRequest, errors.New("expires_in and grace_period must be positive numbers of seconds"))
		return false
	}
	return true
}

func (req createRequest) credential(tenant string) NewCredential {
	n := NewCredential{Tenant: tenant, Name: req.Name, RateLimit: req.RateLimit, Scopes: req.Scopes, Env: req.Env}
	if req.ExpiresIn > 0 {
		t := time.Now().UTC().Add(time.Duration(req.ExpiresIn) * time.Second).Truncate(time.Millisecond)
		n.ExpiresAt = &t
	}
	return n
}

func (rt *Routes) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status, shown := errorStatus(err)
	if status >= 500 {
		rt.logger.Error(what, "path", r.URL.Path, "err", err)
	}
	httpx.WriteError(w, status, shown)
}

func (rt *Routes) generateIngestToken(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req createRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, secret, err := rt.store.CreateIngestToken(r.Context(), req.credential(p.Tenant))
	if err != nil {
		rt.fail(w, r, "create ingest token", err)
		return
	}
	rt.logger.Info("ingest token created", "tenant", p.Tenant, "token_id", c.ID, "by", p.CredentialID)
	httpx.WriteJSON(w, http.StatusOK, struct {
		IngestTokenView
		Token string `json:"token"`
	}{rt.store.IngestTokenView(c), secret})
}

func (rt *Routes) fetchIngestTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"tokens": viewsOf(rt.store.ListIngestTokens(p.Tenant), rt.store.IngestTokenView)})
}

func (rt *Routes) revokeIngestToken(w http.ResponseWriter, r *http.Request) {
	rt.revoke(w, r, KindIngestToken, "ingest token", "uuid", "token_id")
}

func (rt *Routes) rotateIngestToken(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req createRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, secret, err := rt.store.RotateIngestToken(r.Context(), p.Tenant, r.PathValue("uuid"), time.Duration(req.GracePeriod)*time.Second)
	if err != nil {
		rt.fail(w, r, "rotate ingest token", err)
		return
	}
	rt.logger.Info("ingest token rotated", "tenant", p.Tenant, "token_id", c.ID, "by", p.CredentialID)
	httpx.WriteJSON(w, http.StatusOK, struct {
		IngestTokenView
		Token              string     `json:"token"`
		PreviousValidUntil *time.Time `json:"previous_valid_until"`
	}{rt.store.IngestTokenView(c), secret, c.PreviousValidUntil})
}

func (rt *Routes) createAPIKey(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req createRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, secret, err := rt.store.CreateAPIKey(r.Context(), req.credential(p.Tenant))
	if err != nil {
		rt.fail(w, r, "create api key", err)
		return
	}
	rt.logger.Info("api key created", "tenant", p.Tenant, "key_id", c.ID, "scopes", c.Scopes, "by", p.CredentialID)
	httpx.WriteJSON(w, http.StatusOK, struct {
		APIKeyView
		Key string `json:"key"`
	}{rt.store.APIKeyView(c), secret})
}

func (rt *Routes) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"api_keys": viewsOf(rt.store.ListAPIKeys(p.Tenant), rt.store.APIKeyView)})
}

func (rt *Routes) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	rt.revoke(w, r, KindAPIKey, "api key", "id", "key_id")
}

// viewsOf is the JSON views of creds: an empty list, never null, when there are none.
func viewsOf[V any](creds []Credential, view func(Credential) V) []V {
	views := make([]V, 0, len(creds))
	for _, c := range creds {
		views = append(views, view(c))
	}
	return views
}

// revoke revokes the caller's tenant's credential of kind whose id is the path value
// idParam, and answers with that id under the same name. what names the kind in the
// log line and the answer; logKey is the log attribute of its id.
func (rt *Routes) revoke(w http.ResponseWriter, r *http.Request, kind CredentialKind, what, idParam, logKey string) {
	p, _ := PrincipalFrom(r.Context())
	c, err := rt.store.Revoke(r.Context(), p.Tenant, kind, r.PathValue(idParam))
	if err != nil {
		rt.fail(w, r, "revoke "+what, err)
		return
	}
	rt.logger.Info(what+" revoked", "tenant", p.Tenant, logKey, c.ID, "by", p.CredentialID)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"message": what + " revoked", idParam: c.ID, "revoked_at": c.RevokedAt})
}
