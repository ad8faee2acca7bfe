package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// natsNode is one server of an in-process 3-node JetStream cluster that can be shut
// down and started again on the same ports and store directory.
type natsNode struct {
	name        string
	port        int
	clusterPort int
	storeDir    string
	routes      string

	mu  sync.Mutex
	srv *natsserver.Server
}

func freePortNum(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeAddr(t))
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsNode) start(t *testing.T) {
	t.Helper()
	opts := &natsserver.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   n.storeDir,
		NoSigs:     true,
		NoLog:      true,
		Cluster:    natsserver.ClusterOpts{Name: "telemetryd-test", Host: "127.0.0.1", Port: n.clusterPort},
		Routes:     natsserver.RoutesFromStr(n.routes),
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		t.Fatalf("%s did not start", n.name)
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
}

func (n *natsNode) stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

type natsTestCluster struct {
	nodes []*natsNode
}

// urls is the comma-separated client URL list of every node.
func (c *natsTestCluster) urls() string {
	var u []string
	for _, n := range c.nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

func (c *natsTestCluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// startNATSCluster starts n1..n3 in this process and waits until JetStream can place
// an R3 stream (the cluster has a meta leader and every peer).
func startNATSCluster(t *testing.T) *natsTestCluster {
	t.Helper()
	c := &natsTestCluster{}
	var routes []string
	for i := range 3 {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePortNum(t), clusterPort: freePortNum(t), storeDir: t.TempDir()}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", n.clusterPort))
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		n.routes = strings.Join(routes, ",")
		n.start(t)
		t.Cleanup(n.stop)
	}
	_, js := testenv.Connect(t, c.urls())
	testenv.Eventually(t, 30*time.Second, "an R3 stream on the NATS cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CLUSTERTEST", Subjects: []string{"clustertest"}, Replicas: 3})
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "CLUSTERTEST"); err != nil {
		t.Fatal(err)
	}
	return c
}

// allStreamsCurrent reports whether every stream (KV buckets included) has a leader and
// every replica current and online, and describes the first one that has not.
func allStreamsCurrent(js jetstream.JetStream) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	l := js.ListStreams(ctx)
	seen := 0
	for info := range l.Info() {
		seen++
		cl := info.Cluster
		if cl == nil || cl.Leader == "" {
			return false, info.Config.Name + ": no leader"
		}
		if len(cl.Replicas) != info.Config.Replicas-1 {
			return false, fmt.Sprintf("%s: %d followers for R%d", info.Config.Name, len(cl.Replicas), info.Config.Replicas)
		}
		for _, r := range cl.Replicas {
			if !r.Current || r.Offline {
				return false, fmt.Sprintf("%s: replica %s current=%v offline=%v", info.Config.Name, r.Name, r.Current, r.Offline)
			}
		}
	}
	if err := l.Err(); err != nil {
		return false, err.Error()
	}
	return seen > 0, "no streams"
}

func waitAllStreamsCurrent(t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	var why string
	deadline := time.Now().Add(timeout)
	for {
		ok, w := allStreamsCurrent(js)
		if ok {
			return
		}
		why = w
		if time.Now().After(deadline) {
			t.Fatalf("streams not current after %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamLeader is the server leading TELEMETRY now.
func streamLeader(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	var leader string
	testenv.Eventually(t, 30*time.Second, "a TELEMETRY stream leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, "TELEMETRY")
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	})
	return leader
}

// bucketReplicas is the replica count of KV bucket's stream.
func bucketReplicas(t *testing.T, js jetstream.JetStream, bucket string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
	return s.CachedInfo().Config.Replicas
}

// createToken creates an ingest token for tenant acme with the CLI.
func createToken(t *testing.T, urls string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tokens", "create", "--tenant", "acme", "--nats-url", urls}, &out, &errOut); err != nil {
		t.Fatalf("tokens create: %v\n%s", err, errOut.String())
	}
	var created map[string]any
	_ = json.Unmarshal(out.Bytes(), &created)
	token, _ := created["token"].(string)
	if token == "" {
		t.Fatalf("tokens create printed no token: %s", out.String())
	}
	return token
}

// traceLoad posts requests of 50 unique spans from several goroutines, alternately to
// every ingest address, and retries a request's identical body (as an exporter does)
// until it is acknowledged.
type traceLoad struct {
	t      *testing.T
	addrs  []string
	token  string
	stop   chan struct{}
	wg     sync.WaitGroup
	acked  atomic.Int64
	reqs   atomic.Int64
	retry  atomic.Int64
	status sync.Map // status code (or "error") -> *atomic.Int64
	fail   atomic.Value
}

const spansPerRequest = 50

func startTraceLoad(t *testing.T, addrs []string, token string, workers int) *traceLoad {
	l := &traceLoad{t: t, addrs: addrs, token: token, stop: make(chan struct{})}
	client := &http.Client{Timeout: 15 * time.Second}
	waitTokenKnown(t, client, addrs, token)
	for g := 0; g < workers; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				seed := g + workers*i
				if seed >= 1<<16 { // tracesBody's ids hold 16 bits of seed
					return
				}
				l.send(client, g+i, tracesBody(t, seed, spansPerRequest))
			}
		}()
	}
	return l
}

// waitTokenKnown waits until every ingest process has learnt of a token just created
// elsewhere (its credential index follows the KV bucket by a watch): the load's 401s
// are not retried, as exporters do not retry them.
func waitTokenKnown(t *testing.T, client *http.Client, addrs []string, token string) {
	t.Helper()
	for _, addr := range addrs {
		testenv.Eventually(t, 10*time.Second, "ingest "+addr+" to know the new token", func() bool {
			// An empty export request: authenticated, then nothing to store.
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(nil))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode != http.StatusUnauthorized
		})
	}
}

func (l *traceLoad) count(key string) {
	v, _ := l.status.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (l *traceLoad) send(client *http.Client, target int, body []byte) {
	deadline := time.Now().Add(90 * time.Second)
	for attempt := 0; ; attempt++ {
		addr := l.addrs[(target+attempt)%len(l.addrs)]
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+l.token)
		l.reqs.Add(1)
		resp, err := client.Do(req)
		code := 0
		if err != nil {
			l.count("error")
		} else {
			resp.Body.Close()
			code = resp.StatusCode
			l.count(strconv.Itoa(code))
		}
		switch {
		case code == http.StatusOK:
			l.acked.Add(spansPerRequest)
			return
		case code == 0 || code == http.StatusTooManyRequests || code >= 500:
			// retried below
		default:
			l.fail.CompareAndSwap(nil, fmt.Sprintf("status %d: not retryable", code))
			return
		}
		if time.Now().After(deadline) {
			l.fail.CompareAndSwap(nil, fmt.Sprintf("a request was not acknowledged within 90s (last: %d %v)", code, err))
			return
		}
		l.retry.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

// finish stops the load, waits for the in-flight requests and reports their outcome.
func (l *traceLoad) finish() int64 {
	close(l.stop)
	l.wg.Wait()
	var counts []string
	l.status.Range(func(k, v any) bool {
		counts = append(counts, fmt.Sprintf("%v=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	l.t.Logf("load: %d spans acknowledged, %d requests, %d retries, answers %v", l.acked.Load(), l.reqs.Load(), l.retry.Load(), counts)
	if f := l.fail.Load(); f != nil {
		l.t.Errorf("load: %v", f)
	}
	return l.acked.Load()
}

// waitLoadProgress waits until at least n more spans are acknowledged.
func (l *traceLoad) waitProgress(t *testing.T, n int64, timeout time.Duration, what string) {
	t.Helper()
	from := l.acked.Load()
	testenv.Eventually(t, timeout, fmt.Sprintf("%d more acknowledged spans %s", n, what), func() bool {
		return l.acked.Load() >= from+n
	})
}

// checkStoredExactlyOnce waits until every acknowledged span is in ClickHouse and every
// consumer has nothing pending, then demands exact counts and no duplicates.
func checkStoredExactlyOnce(t *testing.T, dsn string, js jetstream.JetStream, acked int64) {
	t.Helper()
	conn := testenv.ClickHouse(t, dsn)
	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testenv.Eventually(t, 120*time.Second, fmt.Sprintf("all %d acknowledged spans in ClickHouse", acked), func() bool {
		return count("SELECT count() FROM spans") >= uint64(acked)
	})
	testenv.Eventually(t, 60*time.Second, "every event acknowledged by persist", func() bool {
		for k := 0; k < stream.DefaultConfig().Partitions; k++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := js.Consumer(ctx, "TELEMETRY", stream.ConsumerName("persist", k))
			if err != nil {
				cancel()
				return false
			}
			info, err := c.Info(ctx)
			cancel()
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				return false
			}
		}
		return true
	})
	if got := count("SELECT count() FROM spans"); got != uint64(acked) {
		t.Errorf("spans holds %d rows, %d were acknowledged", got, acked)
	}
	if dup := count("SELECT count() FROM (SELECT stream_seq, span_id FROM spans GROUP BY stream_seq, span_id HAVING count() > 1)"); dup != 0 {
		t.Errorf("%d (stream_seq, span_id) stored twice", dup)
	}
	if dup := count("SELECT count() FROM (SELECT span_id FROM spans GROUP BY span_id HAVING count() > 1)"); dup != 0 {
		t.Errorf("%d span ids stored twice (under different stream sequences)", dup)
	}
}

// stopProcess ends p with SIGTERM and waits for it to exit.
func stopProcess(t *testing.T, p *proc, logs *syncBuffer) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("telemetryd did not stop on SIGTERM:\n%s", logs.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("telemetryd exited %d on SIGTERM", code)
	}
}
