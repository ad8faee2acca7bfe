package authn

import (
	"errors"
	"fmt"
	"strings"
)

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// minSecretDistinctBytes: a secret of fewer distinct bytes is a typed phrase or a
// pattern, not random (32 random bytes in base64 have about 28 distinct characters,
// 32 hex digits about 14).
const minSecretDistinctBytes = 10

// knownPlaceholders are the secrets of the shipped examples, which must never run.
var knownPlaceholders = []string{
	"CHANGE_ME_TO_32_OR_MORE_RANDOM_BYTES_xxxxxxxx",
}

// weakWords mark a secret someone typed instead of generating.
var weakWords = []string{"changeme", "change_me", "change-me", "placeholder", "example", "secret", "password", "replace"}

// errWeakSecretHint says how to make a good secret.
const errWeakSecretHint = `; generate one with: head -c 32 /dev/urandom | base64`

// CheckHS256Secret refuses an HS256 secret that is short, a shipped placeholder, or of
// visibly low entropy: anyone who guesses it mints JWTs for every tenant. The error
// never contains the secret.
func CheckHS256Secret(secret []byte) error {
	s := string(secret)
	if len(secret) < MinSecretBytes {
		return errors.New("jwt secret must be at least 32 bytes" + errWeakSecretHint)
	}
	for _, p := range knownPlaceholders {
		if strings.EqualFold(s, p) {
			return errors.New("jwt secret is the placeholder of a shipped example" + errWeakSecretHint)
		}
	}
	lower := strings.ToLower(s)
	for _, w := range weakWords {
		if strings.Contains(lower, w) {
			return fmt.Errorf("jwt secret contains the word %q: it looks typed, not random%s", w, errWeakSecretHint)
		}
	}
	distinct := map[byte]bool{}
	for _, b := range secret {
		distinct[b] = true
	}
	if len(distinct) < minSecretDistinctBytes {
		return fmt.Errorf("jwt secret has only %d distinct characters: it is not random%s", len(distinct), errWeakSecretHint)
	}
	if p := period(secret); p <= len(secret)/2 {
		return fmt.Errorf("jwt secret repeats a %d-byte pattern: it is not random%s", p, errWeakSecretHint)
	}
	return nil
}

// period is the length of the shortest unit whose repetition makes up b (a prefix of
// the last repetition may end it); len(b) when b does not repeat.
func period(b []byte) int {
	for p := 1; p < len(b); p++ {
		repeats := true
		for i := p; i < len(b); i++ {
			if b[i] != b[i-p] {
				repeats = false
				break
			}
		}
		if repeats {
			return p
		}
	}
	return len(b)
}
