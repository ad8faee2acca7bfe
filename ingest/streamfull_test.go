package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestFullStreamAnswers503: when the stream itself refuses an event because it is full
// (DiscardNew; here without the admission guard, as when several ingest processes
// overshoot it together), HTTP answers 503 with Retry-After and gRPC UNAVAILABLE, and
// the stream keeps every event it acknowledged.
func TestFullStreamAnswers503(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 64 << 10
	s, err := stream.Ensure(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(js, cfg)
	mux := http.NewServeMux()
	NewReceiver(DefaultConfig(), fakeAuth{}, nil, pub, slog.New(slog.NewTextHandler(io.Discard, nil))).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	acked := 0
	for spans := 20; ; spans++ {
		if spans > 200 {
			t.Fatal("a 64 KiB stream never refused")
		}
		resp, body := send(t, ts, request{contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: protoBody(t, spans)})
		if resp.StatusCode == http.StatusOK {
			acked++
			continue
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("full stream: status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		break
	}
	_, err = pub.Publish(context.Background(), stream.Event{Tenant: "acme", Signal: stream.SignalTraces, Payload: protoBody(t, 300)})
	if !errors.Is(err, stream.ErrBacklogFull) {
		t.Fatalf("publish into the full stream: %v, want ErrBacklogFull", err)
	}
	if status, code, _ := classify(err); status != http.StatusServiceUnavailable || code != codes.Unavailable {
		t.Errorf("a full stream maps to %d / %s, want 503 / Unavailable", status, code)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 1 || info.State.Msgs != uint64(acked) {
		t.Errorf("the stream holds %d events from seq %d, want all %d acknowledged from 1", info.State.Msgs, info.State.FirstSeq, acked)
	}
}
