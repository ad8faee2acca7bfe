package ingest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/natsserver"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestStreamOutageAnswers503AndLosesNothing runs the receiver on a real JetStream
// server that goes away and comes back: while it is away ingest answers 503 with
// Retry-After, and every request answered 200, before and after, is in the stream.
func TestStreamOutageAnswers503AndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *natsserver.Server {
		srv, err := natsserver.Start(natsserver.Config{ListenAddr: addr, StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 64 << 20
	if _, err := stream.Ensure(context.Background(), js, cfg); err != nil {
		t.Fatal(err)
	}
	rcfg := DefaultConfig()
	rcfg.PublishTimeout = time.Second
	mux := http.NewServeMux()
	NewReceiver(rcfg, fakeAuth{}, nil, stream.NewPublisher(js, cfg), slog.New(slog.NewTextHandler(io.Discard, nil))).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	acked := map[string]bool{} // message ids of the acknowledged requests
	post := func(seed int) int {
		body := protoBody(t, seed+1)
		resp, _ := send(t, ts, request{contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: body})
		if resp.StatusCode == http.StatusOK {
			acked[stream.MessageID("acme", stream.SignalTraces, body)] = true
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		return resp.StatusCode
	}
	for i := 0; i < 5; i++ {
		if code := post(i); code != http.StatusOK {
			t.Fatalf("before the outage: status %d", code)
		}
	}
	srv.Shutdown()
	for i := 5; i < 8; i++ {
		if code := post(i); code != http.StatusServiceUnavailable {
			t.Fatalf("during the outage: status %d, want 503", code)
		}
	}
	srv = start()
	t.Cleanup(srv.Shutdown)
	deadline := time.Now().Add(20 * time.Second)
	for i := 8; post(i) != http.StatusOK; i++ {
		if time.Now().After(deadline) {
			t.Fatal("ingest did not recover after the stream came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, err := js.Stream(context.Background(), cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Requests refused during the outage may have been stored after all (the client
	// library resends its buffer on reconnect); a client's retry of them is then
	// deduplicated by message id. What was acknowledged must all be there.
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		delete(acked, m.Header.Get(jetstream.MsgIDHeader))
	}
	if len(acked) != 0 {
		t.Errorf("%d acknowledged requests are missing from the stream", len(acked))
	}
}
