package main

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestGRPCBombsKeepMemoryBounded is issue 13's attack: concurrent unauthenticated
// OTLP/gRPC exports, each a ~15 KB gzip body that inflates to 15 MiB, drove the process
// to 938 MiB because the message was inflated and decoded before the token was looked
// at. Now every one is refused Unauthenticated unread: the heap stays within 64 MiB of
// its baseline, and an authenticated exporter is served all along.
func TestGRPCBombsKeepMemoryBounded(t *testing.T) {
	const (
		attackers   = 48
		rounds      = 3
		bomberConns = 4
		maxGrowth   = 64 << 20
	)
	s := startTestServer(t)
	ctx := context.Background()
	_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	bomb := testenv.GzipTraceBomb(t, 15<<20)
	if len(bomb) > 32<<10 {
		t.Fatalf("the bomb is %d bytes as sent, want about 15 KB", len(bomb))
	}
	addr := s.grpcAddr.String()
	insecureOpt := grpc.WithTransportCredentials(insecure.NewCredentials())
	goodConn, err := grpc.NewClient(addr, insecureOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = goodConn.Close() })
	good := ptraceotlp.NewGRPCClient(goodConn)
	goodCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	served := 0
	export := func() bool {
		t.Helper()
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(tracesBody(t, served, 2)); err != nil {
			t.Fatal(err)
		}
		if _, err := good.Export(goodCtx, req); err != nil {
			t.Errorf("authenticated export %d during the attack: %v", served, err)
			return false
		}
		served++
		return true
	}
	export() // connected and warm before the baseline

	var conns []*grpc.ClientConn
	for range bomberConns {
		conns = append(conns, testenv.DialBomber(t, addr, bomb, insecureOpt))
	}
	stop := testenv.HeapPeak()
	refused := make(chan codes.Code, attackers*rounds)
	var attack sync.WaitGroup
	for i := range attackers {
		attack.Go(func() {
			actx := ctx
			if i%2 == 1 {
				actx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer 00000000-0000-0000-0000-000000000000")
			}
			for range rounds {
				refused <- status.Code(testenv.ExportTraceBomb(actx, conns[i%bomberConns]))
			}
		})
	}
	attackDone := make(chan struct{})
	go func() { attack.Wait(); close(attackDone) }()
	attackOver := func() bool {
		select {
		case <-attackDone:
			return true
		default:
			return false
		}
	}
	// Export until the attack is over, and at least a few times.
	for i := 0; i < 5 || !attackOver(); i++ {
		if !export() {
			break
		}
	}
	<-attackDone
	baseline, peak := stop()
	close(refused)
	for code := range refused {
		if code != codes.Unauthenticated {
			t.Errorf("an unauthenticated bomb got %v, want Unauthenticated", code)
		}
	}
	t.Logf("heap in use: %d MiB before, %d MiB at the peak of %d bombs; %d authenticated exports served meanwhile",
		baseline>>20, peak>>20, attackers*rounds, served)
	if peak > baseline+maxGrowth {
		t.Errorf("heap in use grew by %d MiB during the attack, want at most %d MiB", (peak-baseline)>>20, maxGrowth>>20)
	}

	// With a valid token, a bomb past --max-body-bytes (16 MiB) is cut off there.
	over := testenv.DialBomber(t, addr, testenv.GzipTraceBomb(t, 17<<20), insecureOpt)
	if code := status.Code(testenv.ExportTraceBomb(goodCtx, over)); code != codes.ResourceExhausted {
		t.Errorf("an authenticated bomb past the size limit got %v, want ResourceExhausted", code)
	}
	waitForRows(t, s, "every span of the authenticated exports, and nothing else", "SELECT count() FROM spans WHERE tenant_id = 'acme'", uint64(2*served))
}
