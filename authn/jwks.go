package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	defaultJWKSMinRefresh = 30 * time.Second
	jwksFetchTimeout      = 10 * time.Second
	maxJWKSBytes          = 1 << 20
	// maxJWKSKeys bounds the work a token without a kid can cause: it is tried against
	// every key of its algorithm. Real identity providers publish a handful.
	maxJWKSKeys = 64
	minRSABits  = 2048
)

// asymmetricAlgs are the algorithms a JWKS may bring. The parser allows all of them when
// a JWKS is configured, because a rotation may introduce a key type not seen at start;
// the keyfunc still pins each key to its own algorithm.
var asymmetricAlgs = []string{
	jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg(),
}

// verifyKey is a public key pinned to the one algorithm telemetryd verifies it with.
type verifyKey struct {
	kid string
	alg string
	key any // *rsa.PublicKey, *ecdsa.PublicKey (P-256) or ed25519.PublicKey
}

// pinKey pins pub to its algorithm. Pinning by key type (not by the token's header) is
// what defeats algorithm confusion: a key is never handed to another algorithm.
func pinKey(kid string, pub any) (verifyKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verifyKey{}, fmt.Errorf("rsa key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return verifyKey{kid: kid, alg: jwt.SigningMethodRS256.Alg(), key: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return verifyKey{}, fmt.Errorf("ecdsa key on %s, want P-256", k.Curve.Params().Name)
		}
		return verifyKey{kid: kid, alg: jwt.SigningMethodES256.Alg(), key: k}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return verifyKey{}, errors.New("ed25519 key of the wrong size")
		}
		return verifyKey{kid: kid, alg: jwt.SigningMethodEdDSA.Alg(), key: k}, nil
	default:
		return verifyKey{}, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// jwk is the subset of RFC 7517/7518/8037 members telemetryd reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS decodes a JWK Set. Keys telemetryd does not verify with (symmetric "oct"
// keys, other curves, encryption keys, RSA keys meant for PS256...) are skipped so an
// identity provider may publish them; a malformed key of a supported type fails the
// whole set, since it means the document is not what we think it is.
func parseJWKS(data []byte) ([]verifyKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("jwks holds %d keys, more than %d", len(set.Keys), maxJWKSKeys)
	}
	var keys []verifyKey
	for i, j := range set.Keys {
		k, ok, err := j.verifyKey()
		if err != nil {
			return nil, fmt.Errorf("jwks key %d (kid %q): %w", i, j.Kid, err)
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks holds no RS256, ES256 (P-256) or EdDSA (Ed25519) signing key")
	}
	return keys, nil
}

// verifyKey converts j; ok is false for a key telemetryd does not verify with.
func (j jwk) verifyKey() (k verifyKey, ok bool, err error) {
	if j.Use != "" && j.Use != "sig" {
		return verifyKey{}, false, nil
	}
	var pub any
	switch {
	case j.Kty == "RSA":
		n, err := b64Int(j.N)
		if err != nil {
			return verifyKey{}, false, fmt.Errorf("n: %w", err)
		}
		e, err := b64Int(j.E)
		if err != nil {
			return verifyKey{}, false, fmt.Errorf("e: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return verifyKey{}, false, errors.New("e: invalid rsa exponent")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case j.Kty == "EC" && j.Crv == "P-256":
		x, errX := b64Fixed(j.X, 32)
		y, errY := b64Fixed(j.Y, 32)
		if err := errors.Join(errX, errY); err != nil {
			return verifyKey{}, false, err
		}
		// ParseUncompressedPublicKey rejects points off the curve (invalid-curve attacks).
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return verifyKey{}, false, fmt.Errorf("ec point: %w", err)
		}
		pub = p
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64Fixed(j.X, ed25519.PublicKeySize)
		if err != nil {
			return verifyKey{}, false, err
		}
		pub = ed25519.PublicKey(x)
	default:
		return verifyKey{}, false, nil
	}
	k, err = pinKey(j.Kid, pub)
	if err != nil {
		return verifyKey{}, false, err
	}
	if j.Alg != "" && j.Alg != k.alg {
		// The provider reserves this key for another algorithm; honour that.
		return verifyKey{}, false, nil
	}
	return k, true, nil
}

func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not a base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64Fixed(s string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("coordinate is not %d base64url bytes", size)
	}
	return b, nil
}

// jwksCache holds a JWK Set loaded from a file or URL. It is refreshed synchronously,
// inside Verify, when a token names an unknown kid: no background goroutine, nothing to
// close. Refreshes are serialised and at most one per minRefresh, so a flood of tokens
// with made-up kids costs the identity provider one request per interval.
type jwksCache struct {
	source     string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	logger     *slog.Logger

	refreshMu sync.Mutex // one refresh at a time; waiters then find the fresh set
	lastFetch time.Time  // guarded by refreshMu; set on failures too, so a down IdP is not hammered

	mu   sync.RWMutex
	keys []verifyKey // replaced wholesale, never mutated, so readers may keep the slice
}

func newJWKSCache(source string, client *http.Client, minRefresh time.Duration, now func() time.Time, logger *slog.Logger) (*jwksCache, error) {
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
	c := &jwksCache{source: source, client: client, minRefresh: minRefresh, now: now, logger: logger}
	keys, err := c.fetch()
	if err != nil {
		return nil, fmt.Errorf("load jwks: %w", err)
	}
	c.keys, c.lastFetch = keys, now()
	return c, nil
}

func (c *jwksCache) snapshot() []verifyKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.keys
}

// refresh reloads the set unless kid has appeared meanwhile (another caller refreshed)
// or the last fetch is younger than minRefresh. A failed reload keeps the cached keys.
//
// It takes no context: the fetch is shared by every waiting request, so one client
// hanging up must not abort it; jwksFetchTimeout bounds it instead.
func (c *jwksCache) refresh(kid string) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	for _, k := range c.snapshot() {
		if k.kid == kid {
			return
		}
	}
	now := c.now()
	if now.Sub(c.lastFetch) < c.minRefresh {
		return
	}
	c.lastFetch = now
	keys, err := c.fetch()
	if err != nil {
		c.logger.Warn("jwks refresh failed; keeping the cached keys", "source", redactURL(c.source), "err", err)
		return
	}
	c.mu.Lock()
	c.keys = keys
	c.mu.Unlock()
}

func (c *jwksCache) fetch() ([]verifyKey, error) {
	data, err := c.read()
	if err != nil {
		return nil, err
	}
	return parseJWKS(data)
}

func (c *jwksCache) read() ([]byte, error) {
	if !isHTTPURL(c.source) {
		f, err := os.Open(c.source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.source, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %s", redactURL(c.source), resp.Status)
	}
	return readLimited(resp.Body)
}

// readLimited reads at most maxJWKSBytes: a JWKS is a few KiB, and the endpoint is not
// trusted to stay small.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxJWKSBytes)
	}
	return data, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// redactURL hides a password in the JWKS URL before it reaches a log or an error.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
