package retry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

var errDown = errors.New("connection refused")

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDo(t *testing.T) {
	errBad := errors.New("syntax error")
	retryable := func(err error) bool { return errors.Is(err, errDown) }
	tests := []struct {
		name      string
		results   []error // what each attempt returns; past the end: errDown
		timeout   time.Duration
		wantCalls int
		wantErr   error
	}{
		{"first try", []error{nil}, time.Minute, 1, nil},
		{"after the server came up", []error{errDown, errDown, nil}, time.Minute, 3, nil},
		{"a permanent error is returned at once", []error{errDown, errBad}, time.Minute, 2, errBad},
		{"gives up at the deadline", nil, 50 * time.Millisecond, -1, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			calls := 0
			p := Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, Retryable: retryable}
			err := p.Do(ctx, quiet(), "test server", func(context.Context) error {
				calls++
				if calls <= len(tt.results) {
					return tt.results[calls-1]
				}
				return errDown
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCalls >= 0 && calls != tt.wantCalls {
				t.Errorf("%d attempts, want %d", calls, tt.wantCalls)
			}
			if errors.Is(tt.wantErr, context.DeadlineExceeded) && !errors.Is(err, errDown) {
				t.Errorf("err = %v does not carry the last attempt's error", err)
			}
		})
	}
}

func TestJitterStaysWithinHalfAndFull(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, time.Millisecond, 5 * time.Second} {
		for i := 0; i < 100; i++ {
			if got := jitter(d); got < d/2 || got > d {
				t.Fatalf("jitter(%s) = %s, outside [%s, %s]", d, got, d/2, d)
			}
		}
	}
}

func TestWaitsDoubleUpToTheCap(t *testing.T) {
	p := Startup(nil)
	var waits []time.Duration
	for w := p.Initial; len(waits) < 8; w = p.next(w) {
		waits = append(waits, w)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}

// TestAttemptIsBounded: an attempt that never answers (a request NATS drops) is cut off
// after Policy.Attempt and tried again, instead of using up the whole start deadline.
func TestAttemptIsBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond, Attempt: 20 * time.Millisecond}
	err := p.Do(ctx, quiet(), "a server that drops the first request", func(ctx context.Context) error {
		calls++
		if calls == 1 {
			<-ctx.Done() // no answer: only the attempt's deadline ends it
			return ctx.Err()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err %v after %d attempts, want success on the second", err, calls)
	}
}
