package persist

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// answerDropper is a TCP proxy to ClickHouse that, once armed, lets the next
// connection whose client sends more than threshold bytes through to the server, but
// drops everything the server answers from then on: ClickHouse commits an INSERT
// whose client never hears so and times out.
type answerDropper struct {
	ln        net.Listener
	target    string
	threshold int64
	armed     atomic.Bool
	dropped   atomic.Int64 // connections whose answers were dropped
	wg        sync.WaitGroup
}

func newAnswerDropper(t *testing.T, target string, threshold int64) *answerDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &answerDropper{ln: ln, target: target, threshold: threshold}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *answerDropper) addr() string { return p.ln.Addr().String() }

func (p *answerDropper) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		var sent atomic.Int64
		var drop atomic.Bool
		closeBoth := func() { _ = client.Close(); _ = server.Close() }
		p.wg.Add(2)
		go func() { // client -> server, counting
			defer p.wg.Done()
			defer closeBoth()
			buf := make([]byte, 32<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if sent.Add(int64(n)) > p.threshold && p.armed.CompareAndSwap(true, false) {
						drop.Store(true)
						p.dropped.Add(1)
					}
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // server -> client, unless dropping
			defer p.wg.Done()
			defer closeBoth()
			buf := make([]byte, 32<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && !drop.Load() {
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// bulkyTraces is a request of n spans unique per seed, each with a 16 KiB attribute,
// so an INSERT of them is far larger than the queries before it.
func bulkyTraces(t *testing.T, seed, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("bulky")
		s.SetTraceID([16]byte{byte(seed >> 8), byte(seed), byte(i), 7})
		s.SetSpanID([8]byte{byte(seed >> 8), byte(seed), byte(i), 7})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		s.Attributes().PutStr("payload", strings.Repeat("x", 16<<10))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInsertTimedOutAfterCommitIsNotWrittenTwice: ClickHouse stores an INSERT but its
// answer never arrives, so the worker's INSERT times out. The retry looks the events
// up, finds them stored and writes nothing again: zero duplicate rows.
func TestInsertTimedOutAfterCommitIsNotWrittenTwice(t *testing.T) {
	e := newEnv(t)
	e.scfg.Partitions = 1 // every event in one batch, one INSERT
	e.pub = stream.NewPublisher(e.js, e.scfg)
	proxy := newAnswerDropper(t, testenv.ClickHouseAddr(t), 64<<10)
	var db string
	if err := e.ch.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	target, err := OpenTarget(context.Background(), e.ch, TargetOptions{Addr: proxy.addr(), Database: db, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	e.target = target

	const events, spans = 10, 2 // 20 spans of 16 KiB: an INSERT of about 320 KiB
	for i := 0; i < events; i++ {
		if _, err := e.pub.Publish(context.Background(), stream.Event{Tenant: "acme", TokenID: "tok",
			Signal: stream.SignalTraces, Payload: bulkyTraces(t, i, spans)}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	proxy.armed.Store(true)
	cfg := testConfig()
	cfg.InsertTimeout = 2 * time.Second
	failures := &insertFailures{}
	e.startWorkerLogging(cfg, slog.New(failures))
	testenv.Eventually(t, 60*time.Second, "every event handled", func() bool { return e.drained(cfg) })
	if proxy.dropped.Load() != 1 || failures.n.Load() == 0 {
		t.Fatalf("answers dropped on %d connections, %d failed INSERTs: the fault did not happen", proxy.dropped.Load(), failures.n.Load())
	}
	if n := e.count("SELECT count() FROM spans"); n != events*spans {
		t.Errorf("%d span rows, want %d", n, events*spans)
	}
	if n := e.duplicates("spans", "span_id"); n != 0 {
		t.Errorf("%d span rows stored twice", n)
	}
}
