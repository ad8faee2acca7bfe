package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// countingSender acknowledges every request at once.
type countingSender struct{ n atomic.Int64 }

func (s *countingSender) send(context.Context, Request) (outcome, error) {
	s.n.Add(1)
	return outcome{}, nil
}
func (s *countingSender) close() {}

func TestDrivePacesRequests(t *testing.T) {
	const perSecond, window = 40.0, 250 * time.Millisecond
	cases := map[string]struct {
		pace    *rate.Limiter
		atMost  int64
		atLeast int64
	}{
		// The limiter lets through its burst of 1 plus perSecond per second: twice the
		// window leaves room for a slow scheduler, and an unpaced sender does far more.
		"paced":   {rate.NewLimiter(perSecond, 1), 1 + int64(2*perSecond*window.Seconds()), 1},
		"unpaced": {nil, 1 << 62, 4 * int64(perSecond*window.Seconds())},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := &countingSender{}
			stop := make(chan struct{})
			var c counters
			var lat []time.Duration
			fresh := newFreshness(nil, Traces, "run", "")
			done := make(chan error, 1)
			go func() {
				done <- drive(context.Background(), stop, s, NewGenerator("run", Traces, 1, 0), tc.pace, &c, &lat, fresh)
			}()
			time.Sleep(window) // the window being measured, not a wait for a condition
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := s.n.Load(); n > tc.atMost || n < tc.atLeast {
				t.Errorf("%d requests in %s, want %d..%d", n, window, tc.atLeast, tc.atMost)
			}
			if got := c.requests.Load(); got != s.n.Load() {
				t.Errorf("counted %d requests, sent %d", got, s.n.Load())
			}
		})
	}
}
