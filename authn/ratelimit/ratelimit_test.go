package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// step is one action on a Limiter at t0+at; the zero op is Allow, whose
// result must equal want (Reset given as an offset from t0).
type step struct {
	op    string // "", "set" or "clear"
	key   string
	at    time.Duration
	limit Limit // for "set"

	want  Decision
	reset time.Duration
}

func allowed(key string, at time.Duration, limit, remaining int, reset time.Duration) step {
	return step{key: key, at: at, want: Decision{Allowed: true, Limit: limit, Remaining: remaining}, reset: reset}
}

func refused(key string, at time.Duration, limit int, reset, retry time.Duration) step {
	return step{key: key, at: at, want: Decision{Limit: limit, RetryAfter: retry}, reset: reset}
}

func unlimited(key string, at time.Duration) step {
	return step{key: key, at: at, want: Decision{Allowed: true}}
}

func TestAllow(t *testing.T) {
	ms, s := time.Millisecond, time.Second
	tests := []struct {
		name  string
		def   Limit
		steps []step
	}{
		{"burst then refusal", Limit{Rate: 1, Burst: 3}, []step{
			allowed("a", 0, 3, 2, 1*s),
			allowed("a", 0, 3, 1, 2*s),
			allowed("a", 0, 3, 0, 3*s),
			refused("a", 0, 3, 3*s, 1*s),
			refused("a", 500*ms, 3, 3*s, 1*s), // half a token: 0.5s, rounded up
		}},
		{"retry after rounds up slow rates", Limit{Rate: 0.5, Burst: 1}, []step{
			allowed("a", 0, 1, 0, 2*s),
			refused("a", 0, 1, 2*s, 2*s),
			refused("a", 1500*ms, 1, 2*s, 1*s),
		}},
		{"retry after is at least a second", Limit{Rate: 4, Burst: 1}, []step{
			allowed("a", 0, 1, 0, 250*ms),
			refused("a", 0, 1, 250*ms, 1*s),
		}},
		{"refill over time", Limit{Rate: 2, Burst: 2}, []step{
			allowed("a", 0, 2, 1, 500*ms),
			allowed("a", 0, 2, 0, 1*s),
			refused("a", 0, 2, 1*s, 1*s),
			allowed("a", 500*ms, 2, 0, 1500*ms),
			allowed("a", 10*s, 2, 1, 10500*ms), // refill is capped at the burst
			allowed("a", 10*s, 2, 0, 11*s),
		}},
		{"keys are isolated", Limit{Rate: 1, Burst: 1}, []step{
			allowed("a", 0, 1, 0, 1*s),
			refused("a", 0, 1, 1*s, 1*s),
			allowed("b", 0, 1, 0, 1*s),
			refused("b", 0, 1, 1*s, 1*s),
			allowed("a", 1*s, 1, 0, 2*s),
		}},
		{"burst defaults to one second of rate", Limit{Rate: 2.5}, []step{
			allowed("a", 0, 3, 2, 400*ms),
		}},
		{"clock stepping back mints no tokens", Limit{Rate: 1, Burst: 2}, []step{
			allowed("a", 1*s, 2, 1, 2*s),
			allowed("a", 0, 2, 0, 3*s), // treated as t0+1s
			refused("a", 1*s, 2, 3*s, 1*s),
		}},
		{"override raises a key's limit", Limit{Rate: 1, Burst: 2}, []step{
			{op: "set", key: "a", limit: Limit{Rate: 1, Burst: 5}},
			allowed("a", 0, 5, 4, 1*s),
			allowed("a", 0, 5, 3, 2*s),
			allowed("a", 0, 5, 2, 3*s),
			allowed("b", 0, 2, 1, 1*s),
			allowed("b", 0, 2, 0, 2*s),
			refused("b", 0, 2, 2*s, 1*s),
		}},
		{"override lowers, clear restores the default", Limit{Rate: 1, Burst: 3}, []step{
			allowed("a", 0, 3, 2, 1*s),
			{op: "set", key: "a", limit: Limit{Rate: 1, Burst: 1}},
			allowed("a", 10*s, 1, 0, 11*s), // tokens capped at the new burst
			refused("a", 10*s, 1, 11*s, 1*s),
			{op: "clear", key: "a"},
			allowed("a", 11*s, 3, 0, 14*s), // spent tokens stay spent
			allowed("a", 20*s, 3, 2, 21*s),
		}},
		{"override to unlimited and back", Limit{Rate: 1, Burst: 1}, []step{
			allowed("a", 0, 1, 0, 1*s),
			{op: "set", key: "a", limit: Limit{}},
			unlimited("a", 0),
			unlimited("a", 0),
			{op: "clear", key: "a"},
			allowed("a", 0, 1, 0, 1*s),
		}},
		{"unlimited default", Limit{}, []step{
			unlimited("a", 0),
			unlimited("a", 0),
			{op: "set", key: "b", limit: Limit{Rate: 1, Burst: 1}},
			allowed("b", 0, 1, 0, 1*s),
			refused("b", 0, 1, 1*s, 1*s),
			unlimited("a", 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Config{Default: tt.def})
			for i, st := range tt.steps {
				switch st.op {
				case "set":
					l.SetOverride(st.key, st.limit)
					continue
				case "clear":
					l.ClearOverride(st.key)
					continue
				}
				want := st.want
				if want.Limit != 0 {
					want.Reset = t0.Add(st.reset)
				}
				if got := l.Allow(st.key, t0.Add(st.at)); got != want {
					t.Fatalf("step %d: Allow(%q, +%v) = %+v, want %+v", i, st.key, st.at, got, want)
				}
			}
		})
	}
}

func TestUnlimitedTracksNothing(t *testing.T) {
	l := New(Config{})
	for i := range 1000 {
		l.Allow(strconv.Itoa(i), t0)
	}
	if n := l.len(); n != 0 {
		t.Fatalf("len = %d, want 0", n)
	}
}

// checkList verifies that the LRU list and the map hold the same buckets.
func checkList(t *testing.T, l *Limiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for b := l.lru.next; b != &l.lru; b = b.next {
		if l.buckets[b.key] != b || b.next.prev != b {
			t.Fatalf("bucket %q: list and map disagree", b.key)
		}
		n++
	}
	if n != len(l.buckets) {
		t.Fatalf("list holds %d buckets, map %d", n, len(l.buckets))
	}
}

func TestEviction(t *testing.T) {
	const maxKeys = 8
	l := New(Config{Default: Limit{Rate: 0.001, Burst: 1}, MaxKeys: maxKeys, IdleTTL: time.Minute})
	if d := l.Allow("hot", t0); !d.Allowed {
		t.Fatal("hot: first request refused")
	}
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Allow(fmt.Sprint("cold-", i), now)
		// A refusal proves the hot bucket survived: a new one would be full.
		if d := l.Allow("hot", now); d.Allowed {
			t.Fatalf("hot: allowed after %d cold keys; its bucket was evicted", i+1)
		}
		if n := l.len(); n > maxKeys {
			t.Fatalf("len = %d after %d keys, want <= %d", n, i+1, maxKeys)
		}
	}
	checkList(t, l)

	// Everything else is idle for a minute by now and goes on the next call.
	l.Allow("late", t0.Add(time.Second+time.Minute))
	if n := l.len(); n != 1 {
		t.Fatalf("len after idle period = %d, want 1", n)
	}
	checkList(t, l)
}

func TestWriteHeaders(t *testing.T) {
	reset := time.Unix(1_700_000_003, 0)
	tests := []struct {
		name string
		d    Decision
		want map[string]string // "" means absent
	}{
		{"allowed", Decision{Allowed: true, Limit: 10, Remaining: 7, Reset: reset},
			map[string]string{"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "1700000003", "Retry-After": ""}},
		{"refused", Decision{Limit: 10, Reset: reset, RetryAfter: 2 * time.Second},
			map[string]string{"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000003", "Retry-After": "2"}},
		{"fractions round up", Decision{Limit: 1, Reset: reset.Add(time.Millisecond), RetryAfter: 1500 * time.Millisecond},
			map[string]string{"X-RateLimit-Reset": "1700000004", "Retry-After": "2"}},
		{"retry after at least 1", Decision{Limit: 1, Reset: reset},
			map[string]string{"Retry-After": "1"}},
		{"unlimited writes nothing", Decision{Allowed: true},
			map[string]string{"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": "", "Retry-After": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			WriteHeaders(h, tt.d)
			for k, want := range tt.want {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestConcurrent checks under -race that shared keys never let through more
// than burst + rate*elapsed, with goroutines sharing one advancing clock.
func TestConcurrent(t *testing.T) {
	const (
		rateLimit  = 100
		burst      = 10
		goroutines = 8
		iterations = 500
		tick       = 100 * time.Microsecond
	)
	keys := []string{"a", "b", "c"}
	l := New(Config{Default: Limit{Rate: rateLimit, Burst: burst}})
	var clock atomic.Int64
	counts := make([]atomic.Int64, len(keys))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				k := (g + i) % len(keys)
				now := t0.Add(time.Duration(clock.Add(1)) * tick)
				if l.Allow(keys[k], now).Allowed {
					counts[k].Add(1)
				}
			}
		})
	}
	wg.Go(func() { // overrides and inspection race with Allow
		for i := range iterations {
			l.SetOverride("other", Limit{Rate: float64(i + 1), Burst: i + 1})
			l.ClearOverride("other")
			l.len()
		}
	})
	wg.Wait()

	elapsed := time.Duration(clock.Load()) * tick
	bound := burst + int64(rateLimit*elapsed.Seconds())
	for k, key := range keys {
		if n := counts[k].Load(); n < burst || n > bound {
			t.Errorf("key %s: %d allowed, want between %d and %d", key, n, burst, bound)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(Config{Default: Limit{Rate: 1000, Burst: 100}})
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond / 2) // half the calls refused
		l.Allow("token", now)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(Config{Default: Limit{Rate: 1000, Burst: 100}})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("token-", i)
		l.Allow(keys[i], t0)
	}
	var start atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine has its own clock; Allow clamps a key's time to be
		// monotonic, so goroutines disagreeing about now is harmless.
		off, n := int(start.Add(97)), 0
		for pb.Next() {
			n++
			l.Allow(keys[(off+n)%len(keys)], t0.Add(time.Duration(n)*time.Microsecond))
		}
	})
}
