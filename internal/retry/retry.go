// Package retry waits for a dependency with capped, jittered exponential backoff: a
// process that starts before its database or message server keeps trying (and says so
// in its log) until it answers or the start deadline passes.
package retry

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait between attempts and which errors are worth another.
type Policy struct {
	Initial time.Duration // the first wait
	Max     time.Duration // the cap every later wait doubles up to
	// Attempt bounds each attempt (0: only ctx does). A request that is never answered
	// (NATS drops a request to a server still electing its leaders, or one the user
	// may not make) then costs one attempt instead of the whole start deadline.
	Attempt time.Duration
	// Retryable reports whether an error may go away by itself (a server still
	// starting); nil retries every error. Any other error is returned at once.
	Retryable func(error) bool
}

// Startup is the policy for waiting on a dependency at start: quick first retries,
// then at most every 5 s.
func Startup(retryable func(error) bool) Policy {
	return Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Retryable: retryable}
}

// Do calls attempt until it succeeds, fails with an error the policy does not retry,
// or ctx ends; each wait is logged at Warn with what is awaited. On ctx's end the
// error wraps both ctx's error and the last attempt's.
func (p Policy) Do(ctx context.Context, logger *slog.Logger, what string, attempt func(context.Context) error) error {
	wait := p.Initial
	for n := 1; ; n++ {
		err := p.try(ctx, attempt)
		if err == nil {
			if n > 1 {
				logger.Info("dependency available", "waited_for", what, "attempts", n)
			}
			return nil
		}
		if p.Retryable != nil && !p.Retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w; last attempt: %w", what, ctx.Err(), err)
		}
		sleep := jitter(wait)
		logger.Warn("waiting for dependency", "waiting_for", what, "attempt", n, "retry_in", sleep.Round(time.Millisecond), "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s: %w; last attempt: %w", what, ctx.Err(), err)
		case <-t.C:
		}
		wait = p.next(wait)
	}
}

// try runs one attempt, bounded by p.Attempt when set.
func (p Policy) try(ctx context.Context, attempt func(context.Context) error) error {
	if p.Attempt <= 0 {
		return attempt(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, p.Attempt)
	defer cancel()
	return attempt(ctx)
}

// next is the wait after wait: doubled, at most Max.
func (p Policy) next(wait time.Duration) time.Duration { return min(2*wait, p.Max) }

// jitter spreads d over [d/2, d], so processes started together do not retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
