package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// gatePublisher holds every publish until `gate` of them are in flight at once, so a
// receiver that publishes a request's parts one after another never gets through.
type gatePublisher struct {
	gate    int
	mu      sync.Mutex
	now     int
	most    int
	stored  int
	failNth int // fail the failNth publish (1-based); 0: none
	calls   int
	open    chan struct{}
}

func (p *gatePublisher) Publish(ctx context.Context, _ stream.Event) (stream.Ack, error) {
	p.mu.Lock()
	p.calls++
	call := p.calls
	p.now++
	p.most = max(p.most, p.now)
	if p.now >= p.gate {
		select {
		case <-p.open:
		default:
			close(p.open)
		}
	}
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.now--; p.mu.Unlock() }()
	select {
	case <-p.open:
	case <-ctx.Done():
		return stream.Ack{}, ctx.Err()
	case <-time.After(5 * time.Second):
		return stream.Ack{}, fmt.Errorf("%w: only %d publishes in flight, want %d", stream.ErrUnavailable, p.now, p.gate)
	}
	if call == p.failNth {
		return stream.Ack{}, fmt.Errorf("%w: nats: timeout", stream.ErrUnavailable)
	}
	p.mu.Lock()
	p.stored++
	p.mu.Unlock()
	return stream.Ack{Sequence: uint64(call)}, nil
}

func TestSplitRequestPartsArePublishedConcurrently(t *testing.T) {
	body := protoBody(t, 2000) // about 100 KB: 20+ parts of at most 4 KiB
	cases := map[string]struct {
		gate, failNth int
		wantStatus    int
	}{
		"all parts stored, several in flight": {gate: 3, wantStatus: http.StatusOK},
		"one part fails: the request fails":   {gate: 3, failNth: 5, wantStatus: http.StatusServiceUnavailable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pub := &gatePublisher{gate: tc.gate, failNth: tc.failNth, open: make(chan struct{})}
			cfg := DefaultConfig()
			cfg.MaxEventBytes = 4 << 10
			mux := http.NewServeMux()
			NewReceiver(cfg, fakeAuth{}, nil, pub, slog.New(slog.NewTextHandler(io.Discard, nil))).Register(mux)
			ts := httptest.NewServer(mux)
			t.Cleanup(ts.Close)
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/traces", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Authorization", "Bearer "+goodSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, answer, tc.wantStatus)
			}
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if pub.calls < 20 && tc.failNth == 0 {
				t.Fatalf("%d parts published, want the request split into 20 or more", pub.calls)
			}
			if pub.most > maxPartsInFlight {
				t.Errorf("%d publishes in flight at once, want at most %d", pub.most, maxPartsInFlight)
			}
			if tc.failNth == 0 && pub.stored != pub.calls {
				t.Errorf("%d of %d parts stored", pub.stored, pub.calls)
			}
		})
	}
}
