package persist

import (
	"context"
	"slices"
	"testing"
	"time"
)

// gatherEvents is a batch of n events of the given payload size, numbered from seq.
func gatherEvents(seq uint64, n, size int) []*event {
	events := make([]*event, n)
	for i := range events {
		events[i] = &event{seq: seq + uint64(i), payload: make([]byte, size)}
	}
	return events
}

// newTestGatherer gathers over four partitions with an hour of slack, so that a test
// fails by timing out, not by a race with the clock, when a leader waits wrongly.
func newTestGatherer() *gatherer {
	return newGatherer(Config{MaxBatchWait: 10 * time.Hour, MaxBatchEvents: 100, MaxBatchBytes: 1000}, 4)
}

// waitAsync runs the leader's wait and returns what it gathered on a channel.
func waitAsync(t *testing.T, g *gatherer, gt *gathering) <-chan []*event {
	t.Helper()
	got := make(chan []*event, 1)
	go func() { got <- g.wait(context.Background(), gt) }()
	return got
}

func seqsOf(events []*event) []uint64 {
	var seqs []uint64
	for _, ev := range events {
		seqs = append(seqs, ev.seq)
	}
	return seqs
}

func TestGathererLeaderWaitsOnlyForPullsDueWithinSlack(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		pullEnds map[int]time.Duration // other partitions' pulls, ending this long from now
		then     func(g *gatherer)     // what happens while the leader waits
		want     []uint64
		parts    []int
	}{
		{"no other pull", nil, func(*gatherer) {}, []uint64{1, 2}, []int{0}},
		{"a pull due after the slack is not waited for", map[int]time.Duration{1: 2 * time.Hour},
			func(*gatherer) {}, []uint64{1, 2}, []int{0}},
		{"a pull due within the slack joins", map[int]time.Duration{1: time.Minute},
			func(g *gatherer) {
				if gt, leads := g.join(1, gatherEvents(10, 3, 10), now); gt == nil || leads {
					t.Errorf("join: %v, leads %v; want to join the open gathering", gt, leads)
				}
			}, []uint64{1, 2, 10, 11, 12}, []int{0, 1}},
		{"a pull due within the slack that brings nothing ends the wait", map[int]time.Duration{2: time.Minute},
			func(g *gatherer) { g.pulled(2) }, []uint64{1, 2}, []int{0}},
		{"every due pull is waited for", map[int]time.Duration{1: time.Minute, 3: time.Second},
			func(g *gatherer) {
				g.join(3, gatherEvents(30, 1, 10), now)
				g.join(1, gatherEvents(20, 1, 10), now)
			}, []uint64{1, 2, 30, 20}, []int{0, 1, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newTestGatherer()
			for k, d := range c.pullEnds {
				g.pulling(k, now.Add(d))
			}
			gt, leads := g.join(0, gatherEvents(1, 2, 10), now)
			if gt == nil || !leads {
				t.Fatalf("first small batch: %v, leads %v; want to lead a gathering", gt, leads)
			}
			got := waitAsync(t, g, gt)
			c.then(g)
			select {
			case events := <-got:
				if !slices.Equal(seqsOf(events), c.want) {
					t.Errorf("gathered %v, want %v", seqsOf(events), c.want)
				}
				if !slices.Equal(gt.partitions(), c.parts) {
					t.Errorf("partitions %v, want %v", gt.partitions(), c.parts)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the leader still waits")
			}
			// Closed: the next small batch leads a gathering of its own.
			if next, leads := g.join(2, gatherEvents(50, 1, 10), now); next == nil || next == gt || !leads {
				t.Errorf("after the wait: %v, leads %v; want a new gathering", next, leads)
			}
		})
	}
}

func TestGathererWritesLargeBatchesOnTheirOwn(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name   string
		before [][]*event // the batches that came first: the first leads, the others join
		batch  []*event
		joins  bool
		leads  bool
		events int // in the open gathering afterwards
	}{
		{"half the events", nil, gatherEvents(1, 50, 1), false, true, 50},
		{"over half the events", nil, gatherEvents(1, 51, 1), false, false, 0},
		{"over half the bytes", nil, gatherEvents(1, 1, 501), false, false, 0},
		{"joins up to the events bound", [][]*event{gatherEvents(1, 50, 1)}, gatherEvents(100, 50, 1), true, false, 100},
		{"not past the events bound", [][]*event{gatherEvents(1, 50, 1)}, gatherEvents(100, 51, 1), false, false, 50},
		{"joins up to the bytes bound", [][]*event{gatherEvents(1, 1, 500)}, gatherEvents(100, 2, 250), true, false, 3},
		{"not past the bytes bound", [][]*event{gatherEvents(1, 1, 500)}, gatherEvents(100, 1, 501), false, false, 1},
		{"a small batch while the open one is full", [][]*event{gatherEvents(1, 50, 1), gatherEvents(100, 50, 1)},
			gatherEvents(200, 1, 1), false, false, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newTestGatherer()
			for i, b := range c.before {
				if gt, leads := g.join(i, b, now); gt == nil || leads != (i == 0) {
					t.Fatalf("batch %d before: %v, leads %v", i, gt, leads)
				}
			}
			gt, leads := g.join(3, c.batch, now)
			if joined := gt != nil && !leads; joined != c.joins || leads != c.leads {
				t.Errorf("joined %v, leads %v; want %v, %v", joined, leads, c.joins, c.leads)
			}
			if got := 0; g.open != nil {
				got = len(g.open.events)
				if got != c.events {
					t.Errorf("open gathering holds %d events, want %d", got, c.events)
				}
			} else if c.events != 0 {
				t.Errorf("no open gathering, want one of %d events", c.events)
			}
		})
	}
}

func TestGathererLeaderStopsWaitingWhenCancelled(t *testing.T) {
	g := newTestGatherer()
	g.pulling(1, time.Now().Add(time.Minute))
	gt, _ := g.join(0, gatherEvents(1, 1, 1), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan []*event, 1)
	go func() { got <- g.wait(ctx, gt) }()
	cancel()
	select {
	case events := <-got:
		if len(events) != 1 || g.open != nil {
			t.Errorf("gathered %d events, open %v; want the leader's one, closed", len(events), g.open)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leader still waits after its context ended")
	}
}
