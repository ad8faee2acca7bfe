package persist

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/jsensure"
)

// members tracks the live persist processes through a KV bucket whose entries expire:
// each process refreshes its own key every heartbeat, and a process that dies drops
// out when its key ages out. Partitions are assigned by rendezvous hashing over the
// live members, so every process computes the same owner and a membership change
// moves only the partitions it must.
type members struct {
	kv        jetstream.KeyValue
	id        string
	heartbeat time.Duration
	logger    *slog.Logger

	mu   sync.RWMutex
	live []string
}

const memberKeyPrefix = "m."

// openMembers joins the live members. On a cluster still forming, the bucket's
// creation and the first heartbeat are retried until ctx, the start deadline, ends.
func openMembers(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, id string, heartbeat time.Duration, logger *slog.Logger) (*members, error) {
	m := &members{id: id, heartbeat: heartbeat, logger: logger, live: []string{id}}
	err := jsensure.Startup().Do(ctx, logger, "membership bucket "+bucket, func(ctx context.Context) (err error) {
		m.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "telemetryd persist workers alive now",
			Storage:     jetstream.MemoryStorage,
			Replicas:    replicas,
			TTL:         3 * heartbeat,
		})
		if err != nil {
			return err
		}
		return m.beat(ctx)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// run refreshes this member and the live list until ctx is done, then leaves so the
// others take its partitions over at once.
func (m *members) run(ctx context.Context) {
	t := time.NewTicker(m.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = m.kv.Delete(leaveCtx, memberKeyPrefix+m.id)
			cancel()
			return
		case <-t.C:
			if err := m.beat(ctx); err != nil && ctx.Err() == nil {
				m.logger.Warn("persist membership heartbeat", "err", err)
			}
		}
	}
}

func (m *members) beat(ctx context.Context) error {
	if _, err := m.kv.Put(ctx, memberKeyPrefix+m.id, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return err
	}
	lister, err := m.kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	var live []string
	for k := range lister.Keys() {
		if id, ok := strings.CutPrefix(k, memberKeyPrefix); ok {
			live = append(live, id)
		}
	}
	// The lister has closed its subscription when Keys ends; Stop only tidies up.
	_ = lister.Stop()
	if !slices.Contains(live, m.id) {
		live = append(live, m.id)
	}
	slices.Sort(live)
	m.mu.Lock()
	changed := !slices.Equal(m.live, live)
	m.live = live
	m.mu.Unlock()
	if changed {
		m.logger.Info("persist workers changed", "live", len(live))
	}
	return nil
}

// owns reports whether this process should persist partition k now.
func (m *members) owns(k int) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	best, bestScore := "", uint64(0)
	for _, id := range m.live {
		h := fnv.New64a()
		h.Write([]byte(id))
		// FNV alone leaves its high bits to the id; the finalizer mixes the partition
		// into every bit, so each member wins about 1/n of the partitions.
		if s := mix64(h.Sum64() ^ (uint64(k)+1)*0x9e3779b97f4a7c15); best == "" || s > bestScore {
			best, bestScore = id, s
		}
	}
	return best == m.id
}

// count is the number of live members this process knows of.
func (m *members) count() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.live)
}

// mix64 is MurmurHash3's 64-bit finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
