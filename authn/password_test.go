package authn_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/authn"
)

// testPasswordParams keep the tests quick; the PHC string carries them anyway.
var testPasswordParams = authn.PasswordParams{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}

func newPasswords(t *testing.T, params authn.PasswordParams) *authn.Passwords {
	t.Helper()
	p, err := authn.NewPasswords(params)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPasswordHashAndVerify(t *testing.T) {
	ctx := context.Background()
	p := newPasswords(t, authn.DefaultPasswordParams())
	const pw = "correct horse battery"
	h1, err := p.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := p.Hash(ctx, pw)
	if m := phc.FindStringSubmatch(h1); m == nil || m[1] != "19456" || m[2] != "2" || m[3] != "1" {
		t.Fatalf("hash %q is not a PHC argon2id string with the default parameters", h1)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not per hash")
	}
	for _, tt := range []struct {
		hash, pw string
		want     bool
	}{
		{h1, pw, true},
		{h2, pw, true},
		{h1, pw + " ", false},
		{h1, strings.ToUpper(pw), false},
		{"", pw, false}, // unknown user: checked against the dummy hash, never matches
	} {
		ok, err := p.Verify(ctx, tt.hash, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%.20q, %q) = %v, %v; want %v", tt.hash, tt.pw, ok, err, tt.want)
		}
	}
	// A hash made with other parameters verifies with its own and asks for a rehash.
	old := newPasswords(t, testPasswordParams)
	oh, _ := old.Hash(ctx, pw)
	if ok, err := p.Verify(ctx, oh, pw); !ok || err != nil {
		t.Errorf("hash with older parameters: %v, %v", ok, err)
	}
	if !p.NeedsRehash(oh) || p.NeedsRehash(h1) {
		t.Error("NeedsRehash must be true only for other parameters")
	}
}

func TestPasswordHashRefusesTamperedParameters(t *testing.T) {
	p := newPasswords(t, testPasswordParams)
	for _, h := range []string{
		"plaintext",
		"$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=1024,t=99,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
	} {
		if ok, err := p.Verify(context.Background(), h, "whatever-password"); ok || err == nil {
			t.Errorf("Verify accepted hash %q: %v, %v", h, ok, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := newPasswords(t, testPasswordParams)
	for _, tt := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"elevenchars", false},
		{"password1234", false},    // common
		{"PassWord1234", false},    // common, whatever the case
		{"qwerty123456", false},    // common
		{"aaaaaaaaaaaaaaa", false}, // one repeated character
		{strings.Repeat("x", 300) + "y", false},
		{"tulip-granite-87-orbit", true},
		{"Zürich-Sommer-2031", true},
	} {
		err := p.CheckPolicy(tt.pw)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPolicy(%.30q) = %v, want ok=%v", tt.pw, err, tt.ok)
		}
		if err != nil && !errors.Is(err, authn.ErrWeakPassword) {
			t.Errorf("CheckPolicy(%q): %v does not wrap ErrWeakPassword", tt.pw, err)
		}
	}
}
