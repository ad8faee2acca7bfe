package persist

import (
	"context"
	"slices"
	"sync"
	"time"
)

// gatherer joins the small batches that a process's partitions pull at about the same
// time into one batch, written with one INSERT per table instead of one per partition.
//
// Below saturation a partition's pull lasts the whole --batch-max-wait and comes back
// with a few dozen events, so each partition made an INSERT per window, four for the
// same events that one INSERT could carry. ClickHouse's cost of an INSERT is mostly
// fixed at these sizes (its parts, the views' parts and GROUP BYs): on two shared vCPUs
// the INSERTs queued behind each other, and an event's time to queryable was mostly
// theirs (docs/benchmarks.md, sixteenth round). A batch pulled while a partition is
// behind (half its bounds or more) is written on its own, as before, so that the
// partitions' INSERTs run in parallel at saturation.
//
// The partitions whose batches are written together are released together, so they
// pull together again and their pulls end together: once gathered, they stay
// gathered. The first batch of a gathering waits for the pulls expected to end within
// slack of it, and for no other.
type gatherer struct {
	slack     time.Duration
	maxEvents int
	maxBytes  int

	mu       sync.Mutex
	pullEnds []time.Time // by partition: when its running pull ends at the latest; zero while none runs
	open     *gathering  // the gathering a batch may join, nil when none is open
}

// gathering is a batch made of the batches of one or more partitions.
type gathering struct {
	events   []*event
	bytes    int
	parts    map[int]bool  // the partitions whose batches joined
	deadline time.Time     // when the first batch stops waiting for more
	changed  chan struct{} // a batch joined or a pull ended (capacity 1)
	done     chan struct{} // closed once the batch is written and acknowledged, or abandoned
}

// gatherSlackShare is slack's share of --batch-max-wait.
const gatherSlackShare = 10

func newGatherer(cfg Config, partitions int) *gatherer {
	return &gatherer{slack: cfg.MaxBatchWait / gatherSlackShare, maxEvents: cfg.MaxBatchEvents,
		maxBytes: cfg.MaxBatchBytes, pullEnds: make([]time.Time, partitions)}
}

// pulling records that partition k pulls until at the latest; pulled that its pull
// returned with nothing to join. A pull that returned a batch is done when the batch
// joins (join): until then a leader waits for it.
func (g *gatherer) pulling(k int, until time.Time) {
	g.mu.Lock()
	g.pullEnds[k] = until
	g.mu.Unlock()
}

func (g *gatherer) pulled(k int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pullEnds[k] = time.Time{}
	if g.open != nil {
		g.open.signal()
	}
}

// join adds the batch of partition k to the open gathering, or opens one with it. It
// returns the gathering and whether this batch leads it (waits, writes it, closes
// done), or nil when the batch is to be written on its own.
func (g *gatherer) join(k int, events []*event, now time.Time) (*gathering, bool) {
	bytes := 0
	for _, ev := range events {
		bytes += len(ev.payload)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pullEnds[k] = time.Time{}
	if gt := g.open; gt != nil && len(gt.events)+len(events) <= g.maxEvents && gt.bytes+bytes <= g.maxBytes {
		gt.events = append(gt.events, events...)
		gt.bytes += bytes
		gt.parts[k] = true
		gt.signal()
		return gt, false
	}
	if g.open != nil || halfFull(len(events), bytes, g.maxEvents, g.maxBytes) {
		return nil, false
	}
	g.open = &gathering{events: events, bytes: bytes, parts: map[int]bool{k: true},
		deadline: now.Add(g.slack), changed: make(chan struct{}, 1), done: make(chan struct{})}
	return g.open, true
}

// expecting tells whether another partition's pull is due to end before gt's deadline
// and has not yet come back.
func (g *gatherer) expecting(gt *gathering) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, end := range g.pullEnds {
		if !end.IsZero() && !gt.parts[k] && !end.After(gt.deadline) {
			return true
		}
	}
	return false
}

// wait lets the leader of gt wait for the pulls due to end within slack, then closes
// gt to further batches and returns its events.
func (g *gatherer) wait(ctx context.Context, gt *gathering) []*event {
	timer := time.NewTimer(time.Until(gt.deadline))
	defer timer.Stop()
	for g.expecting(gt) {
		select {
		case <-gt.changed:
		case <-timer.C:
			return g.close(gt)
		case <-ctx.Done():
			return g.close(gt)
		}
	}
	return g.close(gt)
}

func (g *gatherer) close(gt *gathering) []*event {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == gt {
		g.open = nil
	}
	return gt.events
}

// partitions lists the partitions whose batches joined gt, once it is closed.
func (gt *gathering) partitions() []int {
	parts := make([]int, 0, len(gt.parts))
	for k := range gt.parts {
		parts = append(parts, k)
	}
	slices.Sort(parts)
	return parts
}

func (gt *gathering) signal() {
	select {
	case gt.changed <- struct{}{}:
	default:
	}
}
