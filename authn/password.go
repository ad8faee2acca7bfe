package authn

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy.
const (
	MinPasswordLength = 12
	// MaxPasswordLength bounds the work one login can cause.
	MaxPasswordLength = 256
)

// PasswordParams are the argon2id cost parameters. They are written into every hash
// (PHC string format), so they can be raised later: a hash made with older ones is
// still verified with its own, and replaced at the user's next sign-in.
type PasswordParams struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultPasswordParams is OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}
}

const (
	argonSaltBytes = 16
	argonKeyBytes  = 32
	// maxConcurrentHashes bounds the memory password hashing can take at once
	// (MemoryKiB each); further logins wait for a slot.
	maxConcurrentHashes = 4
)

// Limits on parameters read from a stored hash, so a tampered record cannot make one
// verification take a gigabyte or a minute.
const (
	maxArgonMemoryKiB  = 1 << 20
	maxArgonIterations = 16
	maxArgonLanes      = 16
)

// ErrWeakPassword refuses a password the policy does not allow; its text says why.
var ErrWeakPassword = errors.New("weak password")

//go:embed common_passwords.txt
var commonPasswordList string

// Passwords hashes and verifies passwords with argon2id. It is safe for concurrent use.
type Passwords struct {
	params PasswordParams
	slots  chan struct{}
	common map[string]bool
	// dummy is a hash of a random password: an unknown email is verified against it,
	// so that it costs what a wrong password costs.
	dummy string
}

// NewPasswords returns a hasher with params (zero: DefaultPasswordParams).
func NewPasswords(params PasswordParams) (*Passwords, error) {
	if params == (PasswordParams{}) {
		params = DefaultPasswordParams()
	}
	if params.MemoryKiB < 8*uint32(max(1, params.Parallelism)) || params.MemoryKiB > maxArgonMemoryKiB ||
		params.Iterations < 1 || params.Iterations > maxArgonIterations || params.Parallelism < 1 || params.Parallelism > maxArgonLanes {
		return nil, fmt.Errorf("argon2id parameters out of range: %+v", params)
	}
	p := &Passwords{params: params, slots: make(chan struct{}, maxConcurrentHashes), common: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			p.common[strings.ToLower(w)] = true
		}
	}
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	dummy, err := p.Hash(context.Background(), base64.RawStdEncoding.EncodeToString(random))
	if err != nil {
		return nil, err
	}
	p.dummy = dummy
	return p, nil
}

// CheckPolicy says whether password may be set: long enough, not too long, and not one
// of the most common passwords. The error wraps ErrWeakPassword.
func (p *Passwords) CheckPolicy(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordLength)
	case p.common[strings.ToLower(password)]:
		return fmt.Errorf("%w: it is one of the most common passwords", ErrWeakPassword)
	case strings.Count(password, password[:1]) == len(password):
		return fmt.Errorf("%w: it repeats one character", ErrWeakPassword)
	}
	return nil
}

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key> (unpadded base64).
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("random salt: %w", err)
	}
	key, err := p.derive(ctx, password, salt, p.params, argonKeyBytes)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.params.MemoryKiB, p.params.Iterations, p.params.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches hash, comparing in constant time. An empty
// hash (unknown user, or a user who never set a password) is checked against the dummy
// hash and never matches, at the same cost as a wrong password.
func (p *Passwords) Verify(ctx context.Context, hash, password string) (bool, error) {
	known := hash != ""
	if !known {
		hash = p.dummy
	}
	params, salt, want, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLength {
		password = password[:MaxPasswordLength] // bounded work; such a password was never set
	}
	got, err := p.derive(ctx, password, salt, params, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1 && known, nil
}

// NeedsRehash reports whether hash was made with other parameters than the current ones.
func (p *Passwords) NeedsRehash(hash string) bool {
	params, _, _, err := parsePHC(hash)
	return err == nil && params != p.params
}

// derive runs argon2id in one of the bounded slots.
func (p *Passwords) derive(ctx context.Context, password string, salt []byte, params PasswordParams, keyLen uint32) ([]byte, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
	defer func() { <-p.slots }()
	return argon2.IDKey([]byte(password), salt, params.Iterations, params.MemoryKiB, params.Parallelism, keyLen), nil
}

var errBadPasswordHash = errors.New("stored password hash is not an argon2id PHC string")

// parsePHC reads an argon2id PHC string, refusing parameters beyond sane bounds.
func parsePHC(s string) (PasswordParams, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return PasswordParams{}, nil, nil, errBadPasswordHash
	}
	var m, t, lanes uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &lanes); err != nil {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %w", errBadPasswordHash, err)
	}
	if m < 8 || m > maxArgonMemoryKiB || t < 1 || t > maxArgonIterations || lanes < 1 || lanes > maxArgonLanes {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: parameters out of range", errBadPasswordHash)
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: bad salt or key", errBadPasswordHash)
	}
	return PasswordParams{MemoryKiB: m, Iterations: t, Parallelism: uint8(lanes)}, salt, key, nil
}
