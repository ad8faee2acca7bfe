package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestClusterCLIKeepsCredentialBucketReplicas: `telemetryd tokens create` against a
// cluster must not scale the R3 credential bucket down, and losing one node must not
// stop a new ingest process from starting.
func TestClusterCLIKeepsCredentialBucketReplicas(t *testing.T) {
	c := startNATSCluster(t)
	_, js := testenv.Connect(t, c.urls())
	var logs syncBuffer
	addr := freeAddr(t)
	args := []string{"--roles", "ingest", "--nats-url", c.urls(), "--stream-replicas", "3", "--rate-limit", "0"}
	startProcess(t, addr, &logs, args...)
	before := bucketReplicas(t, js, "telemetry_credentials")
	token := createToken(t, c.urls())
	after := bucketReplicas(t, js, "telemetry_credentials")
	if before != 3 || after != 3 {
		t.Errorf("credential bucket replicas: %d after serve, %d after `tokens create`; want 3", before, after)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "KV_telemetry_credentials")
	if err != nil {
		t.Fatal(err)
	}
	// All three copies must hold the token before one of them goes away.
	testenv.Eventually(t, 10*time.Second, "the bucket's replicas to be current", func() bool {
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	})
	info, _ := s.Info(ctx)
	host := c.node(info.Cluster.Leader)
	t.Logf("credential bucket leader on %s, stopping it", host.name)
	host.stop()
	resp := postTraces(t, addr, token, tracesBody(t, 1, 5))
	t.Logf("running ingest with the bucket's node down: %d", resp.StatusCode)
	addr2 := freeAddr(t)
	p := spawn(t, addr2, &logs, nil, args...)
	ready := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(200 * time.Millisecond) {
		select {
		case <-p.exited:
			t.Errorf("a new ingest process exited with the credential bucket's node down (code %d)", p.cmd.ProcessState.ExitCode())
			deadline = time.Now()
		default:
		}
		if r, err := http.Get("http://" + addr2 + "/ready"); err == nil {
			r.Body.Close()
			ready = r.StatusCode == http.StatusOK
		}
	}
	if !ready {
		t.Errorf("a new ingest process did not become ready with one NATS node (%s) down:\n%s", host.name, logs.String())
	}
	if !ready {
		return
	}
	if code := postTraces(t, addr2, token, tracesBody(t, 2, 5)).StatusCode; code != http.StatusOK {
		t.Errorf("a new ingest process answers %d to a valid token with one NATS node (%s) down", code, host.name)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if info, err := s.Info(ctx2); err == nil {
		t.Logf("credential bucket now: R%d, leader %q, %d msgs", info.Config.Replicas, info.Cluster.Leader, info.State.Msgs)
	} else {
		t.Logf("credential bucket info: %v", err)
	}
}
