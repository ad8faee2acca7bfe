package persist

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sizedMsg is a pulled event of n bytes; the pacer reads nothing else of it.
type sizedMsg struct {
	jetstream.Msg
	n int
}

func (m sizedMsg) Data() []byte { return make([]byte, m.n) }

func pulledMsgs(events, bytesEach int) []jetstream.Msg {
	msgs := make([]jetstream.Msg, events)
	for i := range msgs {
		msgs[i] = sizedMsg{n: bytesEach}
	}
	return msgs
}

func TestPullPacerCountsTheWindowFromThePreviousPull(t *testing.T) {
	cfg := Config{MaxBatchWait: 250 * time.Millisecond, MaxBatchEvents: 100, MaxBatchBytes: 1 << 20}
	t0 := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name     string
		previous []jetstream.Msg // what the previous pull returned; nil: no previous pull
		written  time.Duration   // from the previous pull's return to this pull
		want     time.Duration   // this pull's wait
	}{
		{"first pull", nil, 0, 250 * time.Millisecond},
		{"quiet partition", pulledMsgs(0, 0), time.Millisecond, 249 * time.Millisecond},
		{"short INSERT", pulledMsgs(10, 1000), 100 * time.Millisecond, 150 * time.Millisecond},
		{"INSERT just under the window", pulledMsgs(10, 1000), 240 * time.Millisecond, 50 * time.Millisecond},
		{"INSERT longer than the window", pulledMsgs(10, 1000), 400 * time.Millisecond, 50 * time.Millisecond},
		{"half the events", pulledMsgs(50, 10), 400 * time.Millisecond, 50 * time.Millisecond},
		{"backlog by events", pulledMsgs(51, 10), 400 * time.Millisecond, 250 * time.Millisecond},
		{"backlog by bytes", pulledMsgs(2, 300_000), 400 * time.Millisecond, 250 * time.Millisecond},
		{"under half the bytes", pulledMsgs(2, 200_000), 400 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPullPacer(cfg)
			if c.previous != nil {
				p.pulled(t0, c.previous)
			}
			if got := p.wait(t0.Add(c.written)); got != c.want {
				t.Errorf("wait = %s, want %s", got, c.want)
			}
		})
	}
}
