package main

import (
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// clusterDeployment is two ingest and two persist processes on a 3-node NATS cluster
// with R3 streams and buckets.
type clusterDeployment struct {
	nats        *natsTestCluster
	logs        syncBuffer
	ingestAddrs []string
	ingest      []*proc
	persistArgs []string
	persist     []*proc
	persistAddr []string
	ingestArgs  []string
}

func startClusterDeployment(t *testing.T, dsn string) *clusterDeployment {
	t.Helper()
	d := &clusterDeployment{nats: startNATSCluster(t)}
	t.Cleanup(func() {
		if t.Failed() {
			out := d.logs.String()
			if len(out) > 30000 {
				out = out[len(out)-30000:]
			}
			t.Logf("telemetryd output (tail):\n%s", out)
		}
	})
	urls := d.nats.urls()
	d.ingestArgs = []string{"--roles", "ingest", "--nats-url", urls, "--stream-replicas", "3", "--rate-limit", "0"}
	d.persistArgs = []string{"--roles", "persist", "--nats-url", urls, "--stream-replicas", "3", "--clickhouse-dsn", dsn,
		"--ack-wait", "3s", "--takeover-after", "1s", "--batch-max-wait", "100ms"}
	for range 2 {
		addr := freeAddr(t)
		d.ingestAddrs = append(d.ingestAddrs, addr)
		d.ingest = append(d.ingest, startProcess(t, addr, &d.logs, d.ingestArgs...))
	}
	for range 2 {
		addr := freeAddr(t)
		d.persistAddr = append(d.persistAddr, addr)
		d.persist = append(d.persist, startProcess(t, addr, &d.logs, d.persistArgs...))
	}
	return d
}

// TestClusterSurvivesNATSNodeLoss: under continuous load, the node leading the
// TELEMETRY stream is shut down and restarted, then a follower; every span ingest
// acknowledged is stored in ClickHouse exactly once.
func TestClusterSurvivesNATSNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test: -short")
	}
	dsn := testenv.ClickHouseDSN(t)
	d := startClusterDeployment(t, dsn)
	_, js := testenv.Connect(t, d.nats.urls())
	token := createToken(t, d.nats.urls())
	// Every bucket, the credentials too (the CLI above must not have rescaled them).
	for _, b := range []string{"telemetry_credentials", "telemetry_persist_members", "telemetry_idempotency"} {
		if r := bucketReplicas(t, js, b); r != 3 {
			t.Errorf("KV bucket %s has %d replicas, want 3 (--stream-replicas 3)", b, r)
		}
	}
	waitAllStreamsCurrent(t, js, 30*time.Second)

	load := startTraceLoad(t, d.ingestAddrs, token, 4)
	load.waitProgress(t, 2000, 30*time.Second, "before any fault")

	// The stream leader goes away; load continues on the other two nodes.
	leader := d.nats.node(streamLeader(t, js))
	t.Logf("shutting down the TELEMETRY leader %s", leader.name)
	leader.stop()
	load.waitProgress(t, 2000, 60*time.Second, "with "+leader.name+" down")
	deadline := time.Now().Add(5 * time.Second)
	testenv.Eventually(t, 10*time.Second, "5s of load with "+leader.name+" down", func() bool { return time.Now().After(deadline) })
	if now := streamLeader(t, js); now == leader.name {
		t.Fatalf("%s is down but still reported as the stream leader", leader.name)
	}
	leader.start(t)
	waitAllStreamsCurrent(t, js, 60*time.Second)
	load.waitProgress(t, 2000, 60*time.Second, "after "+leader.name+" came back")

	// Then a follower.
	newLeader := streamLeader(t, js)
	var follower *natsNode
	for _, n := range d.nats.nodes { // prefer a node not yet shut down
		if n.name != newLeader && (follower == nil || n != leader) {
			follower = n
		}
	}
	t.Logf("killing the follower %s (leader is %s)", follower.name, newLeader)
	follower.stop()
	load.waitProgress(t, 2000, 60*time.Second, "with "+follower.name+" down")
	follower.start(t)
	waitAllStreamsCurrent(t, js, 60*time.Second)
	load.waitProgress(t, 2000, 60*time.Second, "after "+follower.name+" came back")

	acked := load.finish()
	checkStoredExactlyOnce(t, dsn, js, acked)
}

// TestClusterRollingRestartUnderLoad restarts (SIGTERM, start again) each ingest and persist
// process in turn under load; every acknowledged span is stored exactly once.
func TestClusterRollingRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test: -short")
	}
	dsn := testenv.ClickHouseDSN(t)
	d := startClusterDeployment(t, dsn)
	_, js := testenv.Connect(t, d.nats.urls())
	token := createToken(t, d.nats.urls())
	waitAllStreamsCurrent(t, js, 30*time.Second)

	load := startTraceLoad(t, d.ingestAddrs, token, 4)
	load.waitProgress(t, 2000, 30*time.Second, "before any restart")
	for i := range d.ingest {
		t.Logf("restarting ingest %s", d.ingestAddrs[i])
		stopProcess(t, d.ingest[i], &d.logs)
		load.waitProgress(t, 500, 30*time.Second, "with one ingest process down")
		d.ingest[i] = startProcess(t, d.ingestAddrs[i], &d.logs, d.ingestArgs...)
		load.waitProgress(t, 2000, 30*time.Second, "after an ingest restart")
	}
	for i := range d.persist {
		t.Logf("restarting persist %s", d.persistAddr[i])
		stopProcess(t, d.persist[i], &d.logs)
		load.waitProgress(t, 500, 30*time.Second, "with one persist process down")
		d.persist[i] = startProcess(t, d.persistAddr[i], &d.logs, d.persistArgs...)
		load.waitProgress(t, 2000, 30*time.Second, "after a persist restart")
	}
	acked := load.finish()
	checkStoredExactlyOnce(t, dsn, js, acked)
}
