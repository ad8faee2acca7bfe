package persist

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// pullPacer times one partition's pulls. A pull that does not fill waits for its batch
// to fill, but the window a batch collects events in is counted from the moment the
// previous pull returned, not from this pull: the events that arrived while the
// previous batch was being written have waited that long already. Counted from the
// pull, an event that arrived just after a pull returned waited for the INSERT before
// it, a whole window, then its own INSERT; now it waits for the longer of the window
// and the INSERT before it, then its own. A partition below saturation still makes at
// most one INSERT per window, and with its batches gathered with the other
// partitions' (gatherer), the process does.
type pullPacer struct {
	window    time.Duration // Config.MaxBatchWait
	minWait   time.Duration // the shortest pull, long enough for what is pending to be delivered
	maxEvents int
	maxBytes  int
	returned  time.Time // when the previous pull returned; zero before the first
	// backlog: the previous pull came back at least half full, so the partition is
	// behind and the next pull fills at once. It gets the whole window, as it did:
	// cut short, a pull of a backlog would return with what the server had delivered
	// by then and make a small INSERT.
	backlog bool
}

// minPullShare is the share of the window a pull waits at least.
const minPullShare = 5

func newPullPacer(cfg Config) *pullPacer {
	return &pullPacer{window: cfg.MaxBatchWait, minWait: cfg.MaxBatchWait / minPullShare,
		maxEvents: cfg.MaxBatchEvents, maxBytes: cfg.MaxBatchBytes}
}

// wait is how long a pull made at now waits for its batch to fill.
func (p *pullPacer) wait(now time.Time) time.Duration {
	if p.returned.IsZero() || p.backlog {
		return p.window
	}
	return max(p.window-now.Sub(p.returned), p.minWait)
}

// pulled records a pull that returned msgs at now.
func (p *pullPacer) pulled(now time.Time, msgs []jetstream.Msg) {
	p.returned = now
	bytes := 0
	for _, m := range msgs {
		bytes += len(m.Data())
	}
	p.backlog = halfFull(len(msgs), bytes, p.maxEvents, p.maxBytes)
}

// halfFull tells a batch of the given events and bytes that is at least half of its
// bounds: a partition that pulls such batches is behind.
func halfFull(events, bytes, maxEvents, maxBytes int) bool {
	return 2*events > maxEvents || 2*bytes > maxBytes
}
