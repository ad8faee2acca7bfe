package authn

import (
	"testing"
	"time"
)

func TestLoginThrottleBacksOffExponentially(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newLoginThrottle(ThrottleConfig{AccountFree: 3, Base: time.Second, Max: 10 * time.Second, MaxKeys: 4}, func() time.Time { return now })
	const key = "account:x"
	// Three free failures; the third starts the waits: 1s, 2s, 4s, 8s, then capped at 10s.
	for i, want := range []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		th.fail(key, 3)
		if got := th.wait(key, "address:other"); got != want {
			t.Fatalf("after failure %d: wait %s, want %s", i+1, got, want)
		}
	}
	now = now.Add(10 * time.Second)
	if got := th.wait(key); got != 0 {
		t.Errorf("after the wait: %s, want 0", got)
	}
	th.succeed(key)
	th.fail(key, 3)
	if got := th.wait(key); got != 0 {
		t.Errorf("a success must clear the count; wait %s", got)
	}
	// The map stays bounded however many keys fail.
	for i := 0; i < 100; i++ {
		th.fail(string(rune('a'+i%26))+time.Duration(i).String(), 3)
	}
	if n := len(th.keys); n > 4 {
		t.Errorf("%d keys tracked, want at most 4", n)
	}
}
