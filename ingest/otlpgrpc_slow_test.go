package ingest

import (
	"io"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// stalledCompressor makes a client whose call headers reach the server at once while its
// message is held back until release closes: a slow client as the server sees it.
type stalledCompressor struct {
	release chan struct{}
	body    []byte
}

func (c stalledCompressor) Do(w io.Writer, _ []byte) error {
	<-c.release
	_, err := w.Write(c.body)
	return err
}

func (stalledCompressor) Type() string { return "gzip" }

// TestGRPCSlowMessageFreesItsSlot: a call whose message does not arrive within
// BodyReadBase + MaxBodyBytes/BodyMinRate is refused DeadlineExceeded and gives its
// in-flight slot back, so the next call is served instead of waiting for the slow
// client.
func TestGRPCSlowMessageFreesItsSlot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInFlight = 1
	cfg.MaxBodyBytes = 1 << 20
	// The whole message within about 21 s: long enough that a loaded machine still sees
	// the stalled call hold the slot (at about 4 s the whole suite's load let it be cut
	// off before the first probe got through, twice in a row, and at 9 s once more),
	// short enough for the second wait below.
	cfg.BodyReadBase = 20 * time.Second
	cfg.BodyMinRate = 1 << 20
	addr := startGRPC(t, &sinkPublisher{}, nil, cfg)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stalled, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithCompressor(stalledCompressor{release: release, body: testenv.GzipTraceBomb(t, 100)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stalled.Close() })
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	slow := make(chan error, 1)
	go func() { slow <- testenv.ExportTraceBomb(ctx, stalled) }()

	client := ptraceotlp.NewGRPCClient(dialGRPC(t, addr))
	export := func() error {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(1)))
		return err
	}
	testenv.Eventually(t, 20*time.Second, "the stalled call to hold the only slot", func() bool {
		return status.Code(export()) == codes.Unavailable
	})
	testenv.Eventually(t, 45*time.Second, "a call to be served once the stalled one was cut off", func() bool {
		return export() == nil
	})
	select {
	case err := <-slow:
		t.Errorf("the stalled call ended before its message was sent: %v", err)
	default:
	}
}
