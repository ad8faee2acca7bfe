package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The history of persisted events is trimmed when the stream's bytes reach
// trimAtShare of the admission limit (threshold × MaxBytes), down to trimToShare of
// it, so that a refresh interval's worth of new events fits without a refusal.
const (
	trimAtShare = 0.85
	trimToShare = 0.7
	// trimSteps bounds the purges of one refresh; the next refresh goes on.
	trimSteps = 16
	// ageTrimEvery bounds how often the history age is enforced (it costs a binary
	// search of GetMsg calls): the history may be this much older than the max age.
	ageTrimEvery = time.Minute
)

// persistedBelow returns the safe purge point: every event with a stream sequence
// below it has been acknowledged by its partition's persist consumer, i.e. stored in
// ClickHouse or dead-lettered. st must have been read BEFORE this call.
//
// Why it is safe: a consumer's ack floor only moves up, and every event of its
// partition at or below AckFloor.Stream is acknowledged (the persist consumers have no
// server-side MaxDeliver, which would move the floor past events never acknowledged).
// So each partition bounds the point at its AckFloor.Stream+1, except a partition
// whose last event is at or below its ack floor: it has acknowledged every event it
// holds, including all up to st.LastSeq, because st was read before; it bounds the
// point at st.LastSeq+1 only. Whether a partition is caught up is asked of the stream
// (its last event), not taken from the consumer's NumPending: the server counts new
// events into NumPending asynchronously, so it can read 0 while an event waits. A
// partition without a consumer has persisted nothing: then nothing is purged. Any
// consumer named <durable>-<n> counts, even beyond the configured partitions, so a
// process configured with fewer partitions than another cannot purge the other's.
func (b *Backlog) persistedBelow(ctx context.Context, s jetstream.Stream, st jetstream.StreamState) (uint64, error) {
	floor := st.LastSeq + 1
	seen := make(map[int]bool, b.stream.Partitions)
	var idle []*jetstream.ConsumerInfo // nothing in flight, ack floor below st.LastSeq
	list := s.ListConsumers(ctx)
	for ci := range list.Info() {
		n, ok := b.partitionOfConsumer(ci.Name)
		if !ok {
			continue
		}
		seen[n] = true
		if ci.AckFloor.Stream >= st.LastSeq {
			continue
		}
		if ci.NumAckPending == 0 {
			idle = append(idle, ci)
			continue
		}
		floor = min(floor, ci.AckFloor.Stream+1)
	}
	if err := list.Err(); err != nil {
		return 0, fmt.Errorf("list consumers of stream %s: %w", b.stream.Name, err)
	}
	for k := 0; k < b.stream.Partitions; k++ {
		if !seen[k] {
			return 0, nil
		}
	}
	for _, ci := range idle {
		// The consumer's own filter; several filters count as the whole stream.
		filter := ci.Config.FilterSubject
		if filter == "" && len(ci.Config.FilterSubjects) == 1 {
			filter = ci.Config.FilterSubjects[0]
		}
		if filter == "" {
			filter = b.stream.AllSubjects()
		}
		last, err := s.GetLastMsgForSubject(ctx, filter)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // the partition holds no event
		}
		if err != nil {
			return 0, fmt.Errorf("stream %s: last event under %s: %w", b.stream.Name, filter, err)
		}
		if last.Sequence > ci.AckFloor.Stream {
			floor = min(floor, ci.AckFloor.Stream+1)
		}
	}
	return floor, nil
}

// partitionOfConsumer parses a persist consumer's name, <durable>-<partition>.
func (b *Backlog) partitionOfConsumer(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, b.cfg.Durable+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// trim purges persisted events from the front of the stream: those older than the
// history age, and, when the stream's bytes reach trimAtShare of limit, as many as it
// takes to get down to trimToShare of it. It never purges at or above
// persistedBelow. It reports whether it purged anything.
func (b *Backlog) trim(ctx context.Context, s jetstream.Stream, st jetstream.StreamState, limit float64) (bool, error) {
	if b.cfg.AdmitOnly {
		return false, nil
	}
	ageDue := b.stream.MaxAge > 0 && b.now().Sub(b.lastAgeTrim) >= min(ageTrimEvery, b.stream.MaxAge/10)
	bytesDue := float64(st.Bytes) >= trimAtShare*limit
	if st.Msgs == 0 || (!ageDue && !bytesDue) {
		return false, nil
	}
	safe, err := b.persistedBelow(ctx, s, st)
	if err != nil {
		return false, err
	}
	if safe <= st.FirstSeq {
		return false, nil
	}
	trimmed := false
	if ageDue {
		cut, err := b.firstNotOlder(ctx, s, st.FirstSeq, safe, b.now().Add(-b.stream.MaxAge))
		if err != nil {
			return false, err
		}
		b.lastAgeTrim = b.now()
		if cut > st.FirstSeq {
			if err := b.purgeBelow(ctx, s, cut); err != nil {
				return false, err
			}
			trimmed = true
			if st, err = b.state(ctx, s); err != nil {
				return false, err
			}
		}
	}
	if float64(st.Bytes) < trimAtShare*limit {
		return trimmed, nil
	}
	// Purge from the front, a number of events estimated from the average event size
	// and doubled while that was too few (small persisted events before big pending
	// ones). The estimate only sizes the steps; safe bounds what can go.
	target := trimToShare * limit
	for step, scale := 0, 1.0; step < trimSteps && float64(st.Bytes) > target && st.FirstSeq < safe && st.Msgs > 0; step, scale = step+1, scale*2 {
		avg := float64(st.Bytes) / float64(st.Msgs)
		n := uint64(math.Ceil(scale * (float64(st.Bytes) - target) / avg))
		cut := min(st.FirstSeq+n, safe)
		if err := b.purgeBelow(ctx, s, cut); err != nil {
			return trimmed, err
		}
		trimmed = true
		if st, err = b.state(ctx, s); err != nil {
			return trimmed, err
		}
	}
	return trimmed, nil
}

// firstNotOlder returns the lowest sequence in [lo, hi] such that every event in
// [lo, it) was stored before cutoff, by binary search over the events' stored times
// (the stream stamps them in sequence order). hi bounds the answer: at or above it
// nothing may be purged.
func (b *Backlog) firstNotOlder(ctx context.Context, s jetstream.Stream, lo, hi uint64, cutoff time.Time) (uint64, error) {
	// Most of the time nothing is old yet: the first event decides without a search.
	if m, err := s.GetMsg(ctx, lo, jetstream.WithGetMsgSubject(b.stream.AllSubjects())); err == nil && (m.Sequence >= hi || !m.Time.Before(cutoff)) {
		return lo, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		// The first event at or after mid: sequences may have gaps.
		m, err := s.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(b.stream.AllSubjects()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("stream %s: event at or after seq %d: %w", b.stream.Name, mid, err)
		}
		if m.Sequence >= hi || !m.Time.Before(cutoff) {
			hi = mid
			continue
		}
		lo = m.Sequence + 1
	}
	return lo, nil
}

// purgeBelow removes every event with a sequence below seq.
func (b *Backlog) purgeBelow(ctx context.Context, s jetstream.Stream, seq uint64) error {
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(seq)); err != nil {
		return fmt.Errorf("purge stream %s below seq %d: %w", b.stream.Name, seq, err)
	}
	b.logger.Debug("trimmed persisted history", "stream", b.stream.Name, "below_seq", seq)
	return nil
}

func (b *Backlog) state(ctx context.Context, s jetstream.Stream) (jetstream.StreamState, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("stream %s info: %w", b.stream.Name, err)
	}
	return info.State, nil
}
