package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/internal/httpx"
)

// Register adds the sign-in, user and JWKS routes to mux.
func (a *Accounts) Register(mux *http.ServeMux) {
	mux.Handle("GET /.well-known/jwks.json", a.issuer.JWKSHandler())
	mux.Handle("POST /auth/login", a.limitAnonymous(http.HandlerFunc(a.login)))
	mux.Handle("POST /auth/refresh", a.limitAnonymous(http.HandlerFunc(a.refresh)))
	mux.Handle("POST /auth/logout", a.limitAnonymous(http.HandlerFunc(a.logout)))
	mux.Handle("POST /auth/set_password", a.limitAnonymous(http.HandlerFunc(a.setPassword)))
	mux.Handle("GET /auth/fetch_user", a.guard.RequireJWT(http.HandlerFunc(a.fetchUser)))
	users := a.guard.RequireUser(ScopeUsersWrite)
	mux.Handle("POST /auth/users", users(http.HandlerFunc(a.createUser)))
	mux.Handle("GET /auth/users", users(http.HandlerFunc(a.listUsers)))
	mux.Handle("POST /auth/users/{id}/disable", users(http.HandlerFunc(a.disableUser)))
	mux.Handle("POST /auth/users/{id}/reset_password", users(http.HandlerFunc(a.resetPassword)))
	a.ssoRoutes(mux)
	mux.Handle("GET /auth/sign_in_options", http.HandlerFunc(a.signInOptions))
}

// signInOptions tells a sign-in page which ways in exist, so it shows the SSO
// button only when SSO is configured. It reveals nothing about any user.
func (a *Accounts) signInOptions(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]bool{"password": true, "oidc": a.oidc != nil})
}

// clientAddr is the request's peer address (no proxy header is trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitAnonymous rate-limits routes that carry no credential by client address.
func (a *Accounts) limitAnonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := a.anonymous.Allow(clientAddr(r), a.throttle.now())
		ratelimit.WriteHeaders(w.Header(), d)
		if !d.Allowed {
			httpx.WriteError(w, http.StatusTooManyRequests, ErrRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signInRequest is the body of every sign-in route; each uses some of its fields.
type signInRequest struct {
	Email        string `json:"email"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
	Token        string `json:"token"`
	DisplayName  string `json:"display_name"`
	Role         string `json:"role"`
}

// decodeJSON reads a JSON body into v; it has answered the request when it fails.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, required bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManagementBody))
	if err != nil {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, errors.New("request body too large"))
		return false
	}
	if len(body) == 0 && !required {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		// The decoder's message may quote the body, which holds a password or token.
		httpx.WriteError(w, http.StatusBadRequest, errors.New("invalid JSON body"))
		return false
	}
	return true
}

// answer maps a sign-in error to its status; unexpected ones are logged and hidden.
func (a *Accounts) answer(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *ThrottledError
	var ve *ValidationError
	switch {
	case errors.As(err, &throttled):
		ratelimit.WriteHeaders(w.Header(), ratelimit.Decision{Limit: a.throttle.cfg.AccountFree, RetryAfter: throttled.RetryAfter,
			Reset: a.throttle.now().Add(throttled.RetryAfter)})
		httpx.WriteError(w, http.StatusTooManyRequests, err)
	case errors.Is(err, ErrUserDisabled):
		httpx.WriteError(w, http.StatusForbidden, err)
	case errors.Is(err, ErrBadLogin), errors.Is(err, ErrRefreshReuse), errors.Is(err, ErrSetPasswordToken):
		httpx.WriteError(w, http.StatusUnauthorized, err)
	case errors.Is(err, ErrInvalidCredential), errors.Is(err, ErrExpiredCredential), errors.Is(err, ErrRevokedCredential):
		httpx.WriteError(w, http.StatusUnauthorized, err)
	case errors.As(err, &ve), errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		status, shown := errorStatus(err)
		httpx.WriteError(w, status, shown)
	default:
		a.logger.Error("auth route failed", "path", r.URL.Path, "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, errors.New("sign-in unavailable, try again"))
	}
}

func (a *Accounts) login(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	pair, err := a.Login(r.Context(), req.Email, req.Password, clientAddr(r))
	if err != nil {
		a.answer(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, pair)
}

func (a *Accounts) refresh(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	pair, err := a.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		a.answer(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, pair)
}

// logout ends the session of the refresh token in the body, or else of the access
// token presented.
func (a *Accounts) logout(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !decodeJSON(w, r, &req, false) {
		return
	}
	var tenant, id string
	if req.RefreshToken != "" {
		sess, err := a.store.SessionOfRefreshToken(r.Context(), req.RefreshToken)
		if err != nil {
			a.answer(w, r, err)
			return
		}
		tenant, id = sess.Tenant, sess.ID
	} else {
		p, status, err := a.guard.authenticate(r, "")
		if err != nil {
			httpx.WriteError(w, status, err)
			return
		}
		if !p.issued {
			httpx.WriteError(w, http.StatusBadRequest, errors.New("this token has no telemetryd session to end; send the refresh_token"))
			return
		}
		tenant, id = p.Tenant, p.SessionID
	}
	sess, err := a.store.RevokeSession(r.Context(), tenant, id, "logout")
	if err != nil {
		a.answer(w, r, err)
		return
	}
	a.logger.Info("signed out", "user_id", sess.UserID, "tenant", sess.Tenant, "session_id", sess.ID)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"message": "signed out", "session_id": sess.ID})
}

func (a *Accounts) setPassword(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	u, err := a.SetPassword(r.Context(), req.Token, req.Password)
	if err != nil {
		a.answer(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"message": "password set; sign in with it", "user": u.View()})
}

// fetchUser answers the signed-in user and what they may do. A JWT of an external
// issuer has no user record: its claims are all there is.
func (a *Accounts) fetchUser(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	view := UserView{ID: p.Subject, TenantID: p.Tenant, Role: p.Role, Status: UserActive}
	if p.issued {
		u, err := a.store.UserByID(p.Tenant, p.Subject)
		if err != nil {
			a.answer(w, r, err)
			return
		}
		view = u.View()
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user": view, "permissions": p.Scopes, "session_id": p.SessionID})
}

func (a *Accounts) createUser(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req signInRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	if req.Role == "" {
		req.Role = RoleViewer
	}
	u, grant, err := a.store.CreateUser(r.Context(), NewUser{Tenant: p.Tenant, Email: req.Email, DisplayName: req.DisplayName, Role: req.Role})
	if err != nil {
		a.answer(w, r, err)
		return
	}
	a.logger.Info("user created", "tenant", p.Tenant, "user_id", u.ID, "role", u.Role, "by", p.Subject)
	httpx.WriteJSON(w, http.StatusOK, struct {
		UserView
		*SetPasswordGrant
	}{u.View(), grant})
}

func (a *Accounts) listUsers(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	views := []UserView{}
	for _, u := range a.store.ListUsers(p.Tenant) {
		views = append(views, u.View())
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"users": views})
}

func (a *Accounts) disableUser(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if id == p.Subject {
		httpx.WriteError(w, http.StatusConflict, fmt.Errorf("%w: you cannot disable yourself", ErrConflict))
		return
	}
	u, err := a.store.DisableUser(r.Context(), p.Tenant, id)
	if err != nil {
		a.answer(w, r, err)
		return
	}
	a.logger.Info("user disabled", "tenant", p.Tenant, "user_id", u.ID, "by", p.Subject)
	httpx.WriteJSON(w, http.StatusOK, u.View())
}

func (a *Accounts) resetPassword(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	u, grant, err := a.store.ResetPassword(r.Context(), p.Tenant, r.PathValue("id"))
	if err != nil {
		a.answer(w, r, err)
		return
	}
	a.logger.Info("password reset issued", "tenant", p.Tenant, "user_id", u.ID, "by", p.Subject)
	httpx.WriteJSON(w, http.StatusOK, struct {
		UserView
		SetPasswordGrant
	}{u.View(), grant})
}
