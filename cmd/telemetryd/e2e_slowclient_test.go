package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// slowBody starts an OTLP/HTTP request that announces a body of 100 KB, sends ten bytes
// of it and then nothing: a slowloris client. The connection is closed at cleanup.
func slowBody(t *testing.T, addr, token string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	head := "POST /v1/traces HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-protobuf\r\n" +
		"Authorization: Bearer " + token + "\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("\x00", 10)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// responseStatus reads the status code the server answers conn with; 0 when the server
// closed the connection without an answer.
func responseStatus(t *testing.T, conn net.Conn, wait time.Duration) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer within %s", wait)
		}
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSlowBodyGets408AndFreesItsSlot: clients that trickle their bodies hold every
// in-flight slot; they are cut off (408) after the body deadline and a normal request
// is served again, instead of 503 until the server's two-minute ReadTimeout.
func TestSlowBodyGets408AndFreesItsSlot(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) {
		c.Ingest.MaxInFlight = 2
		c.Ingest.TenantInFlightShare = 1
		c.Ingest.BodyReadBase = time.Second
	})
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.httpAddr.String()
	waitUntilAccepted(t, addr, token)
	slow := []net.Conn{slowBody(t, addr, token), slowBody(t, addr, token)}
	for i, conn := range slow {
		if code := responseStatus(t, conn, 30*time.Second); code != http.StatusRequestTimeout {
			t.Errorf("slow client %d: status %d (0: closed without an answer), want 408", i, code)
		}
	}
	testenv.Eventually(t, 10*time.Second, "a normal request to be served after the slow ones were cut off", func() bool {
		return postTraces(t, addr, token, tracesBody(t, 1, 1)).StatusCode == http.StatusOK
	})
}

// TestSlowTenantCannotStarveOthers: one tenant's slow clients hold its share of the
// in-flight slots; past it that tenant gets 429 with Retry-After, over HTTP and gRPC,
// while another tenant is served over both.
func TestSlowTenantCannotStarveOthers(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) {
		c.Ingest.MaxInFlight = 4
		c.Ingest.TenantInFlightShare = 0.5
		c.Ingest.BodyReadBase = 5 * time.Minute // the slow clients keep their slots
	})
	ctx := context.Background()
	_, slowToken, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherToken, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "other"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.httpAddr.String()
	waitUntilAccepted(t, addr, slowToken)
	waitUntilAccepted(t, addr, otherToken)
	for i := 0; i < 4; i++ { // as many as there are slots
		slowBody(t, addr, slowToken)
	}
	testenv.Eventually(t, 10*time.Second, "the slow tenant to hold its share and get 429", func() bool {
		resp := postTraces(t, addr, slowToken, tracesBody(t, 2, 1))
		return resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != ""
	})
	if resp := postTraces(t, addr, otherToken, tracesBody(t, 3, 1)); resp.StatusCode != http.StatusOK {
		t.Errorf("other tenant over HTTP: status %d, want 200", resp.StatusCode)
	}

	conn, err := grpc.NewClient(s.grpcAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := ptraceotlp.NewGRPCClient(conn)
	export := func(token string, seed int) error {
		callCtx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), 30*time.Second)
		defer cancel()
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(tracesBody(t, seed, 1)); err != nil {
			t.Fatal(err)
		}
		_, err := client.Export(callCtx, req)
		return err
	}
	if err := export(otherToken, 4); err != nil {
		t.Errorf("other tenant over gRPC: %v, want served", err)
	}
	if code := status.Code(export(slowToken, 5)); code != codes.ResourceExhausted {
		t.Errorf("slow tenant over gRPC: %v, want ResourceExhausted", code)
	}
	waitForRows(t, s, "the other tenant's three spans", fmt.Sprintf("SELECT count() FROM spans WHERE tenant_id = '%s'", "other"), 3)
}

// waitUntilAccepted waits until ingest takes a span with token: the credential index is
// fed by a watch, and a slow client sent before it knows the token would get 401 and
// hold no slot.
func waitUntilAccepted(t *testing.T, addr, token string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "ingest to know the token", func() bool {
		return postTraces(t, addr, token, tracesBody(t, 1, 1)).StatusCode == http.StatusOK
	})
}
