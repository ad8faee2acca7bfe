package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/loadgen"
)

// TestBenchCommand runs `telemetryd bench` against an in-process server and checks the
// report against the rows in ClickHouse, over HTTP and gRPC.
func TestBenchCommand(t *testing.T) {
	s := startTestServer(t)
	ctx := context.Background()
	_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "bench", Name: "bench",
		RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		// runTenant: the harness mints its own token, for a tenant of the run's own.
		runTenant bool
	}{
		{"http-gzip", []string{"--token", token, "--target", "http://" + s.httpAddr.String(), "--gzip"}, false},
		{"grpc-logs", []string{"--token", token, "--target", s.grpcAddr.String(), "--grpc", "--signal", "logs", "--spans-per-request", "20"}, false},
		{"http-minted-token", []string{"--jwt-secret", testJWTSecret, "--target", "http://" + s.httpAddr.String()}, true},
		{"grpc-metrics-minted-token", []string{"--jwt-secret", testJWTSecret, "--auth-url", "http://" + s.httpAddr.String(),
			"--target", s.grpcAddr.String(), "--grpc", "--signal", "metrics", "--spans-per-request", "20"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--duration", "2s", "--json", "--conns", "4",
				"--clickhouse-dsn", s.cfg.ClickHouseDSN, "--nats-url", s.nats.ClientURL(), "--data-dir", s.cfg.DataDir,
				// This test process is the server: its CPU and memory are measured.
				"--pid", fmt.Sprint(os.Getpid()), "--raw-duration", "1s", "--raw-batch-rows", "2000",
				"--persist-timeout", "30s"}, tc.extra...)
			var out, errOut bytes.Buffer
			if err := run(ctx, args, &out, &errOut); err != nil {
				t.Fatalf("bench: %v\n%s", err, errOut.String())
			}
			t.Logf("report: %s", out.String())
			var rep map[string]any
			dec := json.NewDecoder(&out)
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out.String())
			}
			if dec.More() {
				t.Fatal("output holds more than one JSON object")
			}
			for _, k := range loadgen.ReportKeys {
				if _, ok := rep[k]; !ok {
					t.Errorf("key %s missing", k)
				}
			}
			sent, _ := rep["spans_sent"].(float64)
			if sent <= 0 {
				t.Fatalf("spans_sent = %v\n%s", rep["spans_sent"], out.String())
			}
			// Every figure is measurable here; null would mean a probe failed.
			for _, k := range []string{"persisted_spans_per_sec", "ack_p99_ms", "freshness_p99_ms",
				"telemetryd_cpu_seconds_per_million_spans", "rss_max_bytes", "raw_jetstream_msgs_per_sec",
				"raw_clickhouse_rows_per_sec", "ratio_ingest_to_raw_jetstream", "ratio_persisted_to_raw_clickhouse"} {
				if v, ok := rep[k].(float64); !ok || v <= 0 {
					t.Errorf("%s = %v, want a positive number (notes: %v)", k, rep[k], rep["notes"])
				}
			}
			table := loadgen.Signal(rep["signal"].(string)).Table()
			var rows uint64
			if err := s.ch.QueryRow(ctx, "SELECT count() FROM "+table+" WHERE has(resource_attribute_values, ?)", rep["run_id"].(string)).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if float64(rows) != sent {
				t.Errorf("%d rows of the run in %s, spans_sent %v", rows, table, sent)
			}
			var tenants []string
			if err := s.ch.QueryRow(ctx, "SELECT groupUniqArray(tenant_id) FROM "+table+" WHERE has(resource_attribute_values, ?)", rep["run_id"].(string)).Scan(&tenants); err != nil {
				t.Fatal(err)
			}
			// A minted token's tenant is the run's own: no other run's rows share it,
			// which is what lets the harness count by it.
			if want := tc.runTenant; len(tenants) != 1 || strings.HasPrefix(tenants[0], "bench-") != want || (tenants[0] == "bench") == want {
				t.Errorf("the run's rows are stored under tenants %q; want one, of the run's own: %v", tenants, want)
			}
			// The raw probes clean up after themselves.
			js, _ := jetstream.New(s.nc)
			if _, err := js.Stream(ctx, "BENCH_RAW"); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("scratch stream BENCH_RAW left behind (%v)", err)
			}
			var scratch uint64
			if err := s.ch.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE 'bench_raw_%'").Scan(&scratch); err != nil || scratch != 0 {
				t.Errorf("%d scratch tables left behind (%v)", scratch, err)
			}
		})
	}
}

// TestBenchCommandRefusesBadToken ends with an error instead of reporting refusals.
func TestBenchCommandRefusesBadToken(t *testing.T) {
	s := startTestServer(t)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"bench", "--target", "http://" + s.httpAddr.String(), "--token", "not-a-token",
		"--duration", "2s", "--json", "--clickhouse-dsn", s.cfg.ClickHouseDSN, "--nats-url", ""}, &out, &errOut)
	if err == nil {
		t.Fatalf("bench with a bad token succeeded: %s", out.String())
	}
}

// TestBenchCommandIngestOnly measures the ingest role alone: the report keeps every key,
// counts what ingest published to the stream, and leaves the figures after ingest null
// with a note, without contacting ClickHouse or running the JetStream probe.
func TestBenchCommandIngestOnly(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.Roles = "ingest" })
	ctx := context.Background()
	_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "bench", Name: "bench",
		RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(ctx, []string{"bench", "--ingest-only", "--target", "http://" + s.httpAddr.String(), "--token", token,
		"--duration", "2s", "--json", "--conns", "2", "--spans-per-request", "10",
		"--clickhouse-dsn", "clickhouse://127.0.0.1:1/none", "--pid", fmt.Sprint(os.Getpid())}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	t.Logf("report: %s", out.String())
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range loadgen.ReportKeys {
		if _, ok := rep[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	for _, k := range []string{"spans_sent", "ingest_spans_per_sec", "ack_p99_ms", "telemetryd_cpu_seconds_per_million_spans", "rss_max_bytes"} {
		if v, ok := rep[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number (notes: %v)", k, rep[k], rep["notes"])
		}
	}
	for _, k := range []string{"persisted_spans_per_sec", "freshness_p50_ms", "freshness_p99_ms", "raw_jetstream_msgs_per_sec",
		"raw_clickhouse_rows_per_sec", "ratio_ingest_to_raw_jetstream", "ratio_persisted_to_raw_clickhouse"} {
		if rep[k] != nil {
			t.Errorf("%s = %v, want null in ingest-only mode", k, rep[k])
		}
	}
	notes := fmt.Sprint(rep["notes"])
	if !strings.Contains(notes, "ingest only") || strings.Contains(notes, "ClickHouse unreachable") {
		t.Errorf("notes %s: want the ingest-only reason and no ClickHouse contact", notes)
	}
	// Every acknowledged request is an event in the stream: ingest did the work measured.
	js, _ := jetstream.New(s.nc)
	st, err := js.Stream(ctx, s.cfg.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if requests, _ := rep["requests"].(float64); float64(info.State.Msgs) != requests {
		t.Errorf("%d events in the stream, %v requests acknowledged", info.State.Msgs, rep["requests"])
	}
}
