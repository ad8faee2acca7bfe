package authn

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/telemetryd/telemetryd/internal/httpx"
)

// OIDCConfig configures sign-in through an OpenID Provider (authorization-code flow
// with PKCE, state and nonce).
type OIDCConfig struct {
	Issuer       string // the provider's issuer URL; its discovery document is used
	ClientID     string
	ClientSecret string
	RedirectURL  string // telemetryd's /auth/oidc/callback as the provider knows it
	// ProvisionTenant, when set, creates a user of this tenant with ProvisionRole for a
	// verified email no user has yet; empty signs in existing users only.
	ProvisionTenant string
	ProvisionRole   string // default viewer
	// SuccessURL, when set, receives the browser after sign-in with the tokens in the
	// URL fragment (never sent to a server); empty answers the tokens as JSON.
	SuccessURL string
	HTTPClient *http.Client // default: 10s timeout
}

// OIDC is the relying party. Safe for concurrent use.
type OIDC struct {
	cfg      OIDCConfig
	accounts *Accounts
	cookie   cipher.AEAD // seals the flow state in a cookie every process can open
	secure   bool        // the cookie needs https

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeded
}

const (
	oidcFlowCookie = "telemetryd_oidc"
	oidcFlowTTL    = 10 * time.Minute
)

// Refusals of an SSO sign-in.
var (
	errOIDCUnverified = errors.New("the identity provider has not verified this email")
	errOIDCNoUser     = errors.New("no telemetryd user has this email; ask an admin to create one")
	errOIDCFlow       = errors.New("sign-in expired or was started elsewhere: start again at /auth/oidc/login")
)

// EnableOIDC adds SSO to the accounts. Discovery is tried now and, if the provider
// is unreachable, again at each sign-in, so a provider outage never stops the server.
func (a *Accounts) EnableOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidc: issuer, client id and redirect URL are required")
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") {
		return nil, fmt.Errorf("oidc: redirect URL %q is not an http(s) URL", cfg.RedirectURL)
	}
	if cfg.ProvisionRole == "" {
		cfg.ProvisionRole = RoleViewer
	}
	if !ValidRole(cfg.ProvisionRole) {
		return nil, fmt.Errorf("oidc: provision role must be one of %v", Roles())
	}
	if cfg.ProvisionTenant != "" && !userTenantPattern.MatchString(cfg.ProvisionTenant) {
		return nil, errors.New("oidc: provision tenant must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	block, err := aes.NewCipher(a.issuer.derivedKey("oidc flow cookie"))
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	o := &OIDC{cfg: cfg, accounts: a, cookie: aead, secure: redirect.Scheme == "https"}
	if _, err := o.discover(ctx); err != nil {
		a.logger.Warn("oidc discovery failed; retried at the next sign-in", "issuer", cfg.Issuer, "err", err)
	}
	a.oidc = o
	return o, nil
}

// discover returns the provider, fetching its discovery document if not done yet.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery of %s: %w", o.cfg.Issuer, err)
	}
	o.provider = p
	return p, nil
}

func (o *OIDC) oauth(p *oidc.Provider) oauth2.Config {
	return oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// oidcFlow is what the login step hands the callback, sealed in a cookie of the browser
// that started it: the callback must come back to that browser (no login CSRF).
type oidcFlow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

// login starts the code flow: state, nonce and PKCE verifier go into the sealed
// cookie, and the browser to the provider.
func (o *OIDC) login(w http.ResponseWriter, r *http.Request) {
	p, err := o.discover(r.Context())
	if err != nil {
		o.accounts.logger.Error("oidc sign-in unavailable", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, errors.New("identity provider unreachable, try again"))
		return
	}
	state, err1 := randomBase62(32)
	nonce, err2 := randomBase62(32)
	if err := errors.Join(err1, err2); err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, errors.New("sign-in unavailable, try again"))
		return
	}
	flow := oidcFlow{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Expires: time.Now().Add(oidcFlowTTL)}
	sealed, err := o.seal(flow)
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, errors.New("sign-in unavailable, try again"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: sealed, Path: "/auth/oidc/", MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode})
	cfg := o.oauth(p)
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(flow.Verifier)), http.StatusFound)
}

// callback finishes the code flow: it checks state against the cookie, redeems the
// code with the PKCE verifier, verifies the ID token (signature by the provider's
// JWKS, issuer, audience, expiry, nonce) and signs in the user of its verified email.
func (o *OIDC) callback(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: o.secure})
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		o.refuse(w, r, http.StatusUnauthorized, fmt.Errorf("the identity provider refused the sign-in: %.100s", e))
		return
	}
	flow, err := o.openCookie(r)
	if err != nil || subtle.ConstantTimeCompare([]byte(flow.State), []byte(q.Get("state"))) != 1 || time.Now().After(flow.Expires) {
		o.refuse(w, r, http.StatusBadRequest, errOIDCFlow)
		return
	}
	p, err := o.discover(r.Context())
	if err != nil {
		o.accounts.logger.Error("oidc sign-in unavailable", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, errors.New("identity provider unreachable, try again"))
		return
	}
	ctx := oidc.ClientContext(r.Context(), o.cfg.HTTPClient)
	cfg := o.oauth(p)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		o.accounts.logger.Warn("oidc code exchange failed", "err", err)
		o.refuse(w, r, http.StatusUnauthorized, errors.New("the identity provider did not accept the sign-in code"))
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idToken, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(flow.Nonce)) != 1 {
		o.accounts.logger.Warn("oidc id token refused", "err", err)
		o.refuse(w, r, http.StatusUnauthorized, errors.New("the identity provider's ID token is not valid"))
		return
	}
	identity, err := o.identity(ctx, p, idToken, tok)
	if err != nil {
		o.refuse(w, r, http.StatusUnauthorized, err)
		return
	}
	if !identity.EmailVerified || identity.Email == "" {
		o.refuse(w, r, http.StatusForbidden, errOIDCUnverified)
		return
	}
	u, err := o.user(r.Context(), identity)
	if err != nil {
		status := http.StatusForbidden
		if !errors.Is(err, errOIDCNoUser) && !errors.Is(err, ErrUserDisabled) {
			status = http.StatusInternalServerError
			o.accounts.logger.Error("oidc sign-in", "err", err)
			err = errors.New("sign-in unavailable, try again")
		}
		o.refuse(w, r, status, err)
		return
	}
	pair, err := o.accounts.startSession(r.Context(), u, "oidc")
	if err != nil {
		o.accounts.answer(w, r, err)
		return
	}
	if o.cfg.SuccessURL != "" {
		v := url.Values{"access_token": {pair.AccessToken}, "token_type": {pair.TokenType},
			"expires_in": {fmt.Sprint(pair.ExpiresIn)}, "refresh_token": {pair.RefreshToken}}
		http.Redirect(w, r, o.cfg.SuccessURL+"#"+v.Encode(), http.StatusSeeOther)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, pair)
}

// oidcIdentity is what telemetryd takes from the provider.
type oidcIdentity struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
}

// identity reads the claims of the ID token, asking the UserInfo endpoint when the
// token carries no email (providers may keep it there).
func (o *OIDC) identity(ctx context.Context, p *oidc.Provider, idToken *oidc.IDToken, tok *oauth2.Token) (oidcIdentity, error) {
	var id oidcIdentity
	if err := idToken.Claims(&id); err != nil {
		return id, errors.New("the identity provider's ID token has unreadable claims")
	}
	if id.Email != "" {
		return id, nil
	}
	info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idToken.Subject {
		return id, errors.New("the identity provider did not tell the email")
	}
	var extra oidcIdentity
	_ = info.Claims(&extra)
	id.Email, id.EmailVerified, id.Name = info.Email, info.EmailVerified, extra.Name
	return id, nil
}

// user finds the user of a verified email, or provisions one.
func (o *OIDC) user(ctx context.Context, id oidcIdentity) (User, error) {
	u, found := o.accounts.store.UserByEmail(id.Email)
	if !found {
		if o.cfg.ProvisionTenant == "" {
			return User{}, errOIDCNoUser
		}
		created, _, err := o.accounts.store.CreateUser(ctx, NewUser{Tenant: o.cfg.ProvisionTenant, Email: id.Email,
			DisplayName: id.Name, Role: o.cfg.ProvisionRole, WithoutPassword: true})
		if errors.Is(err, ErrEmailTaken) {
			// Provisioned by a concurrent sign-in; the watch or the write indexed it.
			if u, found = o.accounts.store.UserByEmail(id.Email); !found {
				return User{}, err
			}
		} else if err != nil {
			return User{}, err
		} else {
			o.accounts.logger.Info("user provisioned by sso", "user_id", created.ID, "tenant", created.Tenant, "role", created.Role)
			u = created
		}
	}
	if u.Status != UserActive {
		return User{}, ErrUserDisabled
	}
	return o.accounts.store.recordLogin(ctx, u, "")
}

func (o *OIDC) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	o.accounts.failed(o.accounts.logger.With("client", clientAddr(r)), "oidc")
	httpx.WriteError(w, status, err)
}

func (o *OIDC) seal(f oidcFlow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, o.cookie.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(o.cookie.Seal(nonce, nonce, plain, []byte(oidcFlowCookie))), nil
}

func (o *OIDC) openCookie(r *http.Request) (oidcFlow, error) {
	var f oidcFlow
	c, err := r.Cookie(oidcFlowCookie)
	if err != nil {
		return f, err
	}
	sealed, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(c.Value))
	if err != nil || len(sealed) < o.cookie.NonceSize() {
		return f, errOIDCFlow
	}
	plain, err := o.cookie.Open(nil, sealed[:o.cookie.NonceSize()], sealed[o.cookie.NonceSize():], []byte(oidcFlowCookie))
	if err != nil {
		return f, errOIDCFlow
	}
	return f, json.Unmarshal(plain, &f)
}

// ssoRoutes serve the SSO routes, or 404 while SSO is not configured.
func (a *Accounts) ssoRoutes(mux *http.ServeMux) {
	route := func(h func(*OIDC, http.ResponseWriter, *http.Request)) http.Handler {
		return a.limitAnonymous(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a.oidc == nil {
				httpx.WriteError(w, http.StatusNotFound, errors.New("single sign-on is not configured (--oidc-issuer)"))
				return
			}
			h(a.oidc, w, r)
		}))
	}
	mux.Handle("GET /auth/oidc/login", route((*OIDC).login))
	mux.Handle("GET /auth/oidc/callback", route((*OIDC).callback))
}
