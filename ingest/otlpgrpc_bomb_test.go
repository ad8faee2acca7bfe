package ingest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// heldPublisher holds every publish until release is closed, reporting each on entered.
type heldPublisher struct {
	sinkPublisher
	entered chan struct{}
	release chan struct{}
}

func newHeldPublisher() *heldPublisher {
	return &heldPublisher{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (p *heldPublisher) Publish(ctx context.Context, ev stream.Event) (stream.Ack, error) {
	p.entered <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
		return stream.Ack{}, ctx.Err()
	}
	return p.sinkPublisher.Publish(ctx, ev)
}

func dialBomber(t *testing.T, addr string, bomb []byte) *grpc.ClientConn {
	t.Helper()
	return testenv.DialBomber(t, addr, bomb, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// TestGRPCBombRefusals: the token is checked before the message is read, so an
// unauthenticated call is refused whatever its body (a bomb, or bytes that do not even
// decompress); an authenticated bomb is cut off at MaxBodyBytes after decompression.
func TestGRPCBombRefusals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1 << 20
	bomb := testenv.GzipTraceBomb(t, 2<<20)
	tests := []struct {
		name      string
		md        []string
		body      []byte
		want      codes.Code
		wantRetry bool
	}{
		{name: "no token, bomb", body: bomb, want: codes.Unauthenticated},
		{name: "bad token, bomb", md: []string{"authorization", "Bearer nope"}, body: bomb, want: codes.Unauthenticated},
		// grpc-go answers Internal for a body that does not decompress: only a handler
		// that never reads it answers Unauthenticated.
		{name: "no token, not gzip", body: []byte("not gzip at all"), want: codes.Unauthenticated},
		{name: "api key, bomb", md: []string{"authorization", "Bearer sk_live_key"}, body: bomb, want: codes.PermissionDenied},
		{name: "token, bomb over the limit", md: []string{"authorization", "Bearer " + goodSecret}, body: bomb, want: codes.ResourceExhausted},
		{name: "token, not gzip", md: []string{"authorization", "Bearer " + goodSecret}, body: []byte("not gzip at all"), want: codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &sinkPublisher{}
			m := metrics.New()
			conn := dialBomber(t, startGRPC(t, pub, nil, cfg, WithMetrics(m)), tt.body)
			ctx := t.Context()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			st := status.Convert(testenv.ExportTraceBomb(ctx, conn))
			if st.Code() != tt.want {
				t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tt.want)
			}
			if d := retryDelay(st); tt.wantRetry != (d > 0) {
				t.Errorf("retry delay = %v, want RetryInfo: %v", d, tt.wantRetry)
			}
			if len(pub.events) != 0 {
				t.Errorf("published %d events", len(pub.events))
			}
			// grpc-go answers a message it cannot read before the handler returns and
			// counts it, so the count is awaited.
			testenv.Eventually(t, 5*time.Second, "the call counted by its code", func() bool {
				var counted dto.Metric
				_ = m.GRPCRequests.WithLabelValues("traces", tt.want.String()).Write(&counted)
				return counted.GetCounter().GetValue() == 1
			})
		})
	}
}

// TestGRPCInFlightSlotBeforeRead: with every in-flight slot taken, an authenticated
// call is refused Unavailable with RetryInfo before its message is read.
func TestGRPCInFlightSlotBeforeRead(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInFlight = 1
	pub := newHeldPublisher()
	addr := startGRPC(t, pub, nil, cfg)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, addr))
	first := make(chan error, 1)
	go func() {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(1)))
		first <- err
	}()
	<-pub.entered // the first call holds the only slot, waiting for the stream's ack

	st := status.Convert(testenv.ExportTraceBomb(ctx, dialBomber(t, addr, testenv.GzipTraceBomb(t, 4<<20))))
	if st.Code() != codes.Unavailable || retryDelay(st) <= 0 {
		t.Errorf("call past the in-flight bound: %v %q, RetryInfo %v; want Unavailable with RetryInfo", st.Code(), st.Message(), retryDelay(st))
	}
	close(pub.release)
	if err := <-first; err != nil {
		t.Fatalf("the call holding the slot: %v", err)
	}
}

// TestGRPCMaxConcurrentStreams: a connection gets at most MaxConcurrentStreams calls at
// once; the client queues the next one until a stream frees.
func TestGRPCMaxConcurrentStreams(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GRPC.MaxConcurrentStreams = 2
	pub := newHeldPublisher()
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, startGRPC(t, pub, nil, cfg)))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Go(func() {
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(i+1)))
			errs <- err
		})
	}
	<-pub.entered
	<-pub.entered
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := client.Export(short, ptraceotlp.NewExportRequestFromTraces(sampleTraces(3)))
	if status.Code(err) != codes.DeadlineExceeded || len(pub.entered) != 0 {
		t.Errorf("a third call on the connection: %v, %d more publishes; want it queued by the client until its deadline", err, len(pub.entered))
	}
	close(pub.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a call within the bound: %v", err)
		}
	}
}

// TestGRPCMaxConnectionAge: a connection is closed (GOAWAY) after MaxConnectionAge, and
// the client reconnects for its next call.
func TestGRPCMaxConnectionAge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GRPC.MaxConnectionAge = 200 * time.Millisecond
	pub := &sinkPublisher{}
	conn := dialGRPC(t, startGRPC(t, pub, nil, cfg))
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(1))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the aged connection to be closed", func() bool {
		return conn.GetState() == connectivity.Idle
	})
	if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(2))); err != nil {
		t.Fatalf("after the server closed the aged connection: %v", err)
	}
}

// TestGRPCKeepaliveEnforced: a client that pings faster than every 10 s is sent GOAWAY
// ENHANCE_YOUR_CALM "too_many_pings" instead of keeping the server busy.
func TestGRPCKeepaliveEnforced(t *testing.T) {
	conn, err := net.Dial("tcp", startGRPC(t, &sinkPublisher{}, nil, DefaultConfig()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY before %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
				t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}
