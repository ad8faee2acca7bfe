package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// The fetch benchmarks run against a database of 1 M spans (10 per trace, 20 tenants, 8
// services, 30 days), made once by INSERT ... SELECTs on the server and kept between runs
// (database bench_fetch_1m on the test ClickHouse). TELEMETRYD_BENCH_SPANS sets another
// size (database bench_fetch_<size>), with 50 tenants from 10 M spans on. The database
// has the layout of the server it is on.
//
//	TELEMETRYD_TEST_CLICKHOUSE=127.0.0.1:9000 go test -run x -bench Fetch -benchtime 50x ./cmd/telemetryd/
//	TELEMETRYD_BENCH_SPANS=10000000 TELEMETRYD_TEST_CLICKHOUSE=... go test -run x -bench Fetch ...
const (
	benchSpansEnv     = "TELEMETRYD_BENCH_SPANS"
	defaultBenchSpans = 1_000_000
	benchChunk        = 1_000_000 // spans per generating INSERT, to bound its memory
)

// benchDataset is the size of the benchmark data and the database holding it.
func benchDataset(b *testing.B) (spans uint64, tenants int, db string) {
	b.Helper()
	spans = defaultBenchSpans
	if v := os.Getenv(benchSpansEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1000 || n > 100_000_000 {
			b.Fatalf("%s=%q: want a number of spans from 1000 to 100000000", benchSpansEnv, v)
		}
		spans = n
	}
	tenants = 20
	if spans >= 10_000_000 {
		tenants = 50
	}
	switch {
	case spans%1_000_000 == 0:
		db = fmt.Sprintf("bench_fetch_%dm", spans/1_000_000)
	default:
		db = fmt.Sprintf("bench_fetch_%d", spans)
	}
	return spans, tenants, db
}

func benchServer(b *testing.B) (*server, string, time.Time) {
	b.Helper()
	benchSpans, tenants, db := benchDataset(b)
	s := startTestServerWith(b, func(c *serveConfig) {
		c.ClickHouseDSN = "clickhouse://" + testenv.ClickHouseAddr(b) + "/" + db
		c.Roles = "fetch"
	})
	ctx := context.Background()
	var n uint64
	if err := s.ch.QueryRow(ctx, "SELECT count() FROM spans").Scan(&n); err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for n < benchSpans {
		// Server-side generation: span i belongs to trace i/10 of tenant (i/10)%tenants,
		// spread over the 30 days before end.
		chunk := min(benchSpans-n, benchChunk)
		err := s.ch.Exec(ctx, fmt.Sprintf(`INSERT INTO spans (tenant_id, timestamp, start_time_unix_nano,
			end_time_unix_nano, duration_ns, trace_id, span_id, parent_span_id, name, kind, status_code,
			service_name, attribute_keys, attribute_values, stream_seq)
			SELECT concat('tenant-', toString(intDiv(number, 10) %% %d)) AS tenant,
				toDateTime(%d - intDiv(number, 10) * 25 %% (30 * 86400)) AS ts,
				toUInt64(ts) * 1000000000 + (number %% 10) * 1000000,
				toUInt64(ts) * 1000000000 + (number %% 10) * 1000000 + 1000000 * (1 + number %% 97),
				1000000 * (1 + number %% 97),
				lower(hex(sipHash128(toString(intDiv(number, 10))))),
				substring(lower(hex(sipHash128(toString(number)))), 1, 16),
				if(number %% 10 = 0, '', substring(lower(hex(sipHash128(toString(number - number %% 10)))), 1, 16)),
				concat('tools/call tool-', toString(number %% 25)),
				if(number %% 10 = 0, 'server', 'internal'),
				if(number %% 50 = 0, 'error', 'unset'),
				concat('service-', toString(intDiv(number, 10) %% 8)),
				['mcp.tool.name', 'mcp.session.id'],
				[concat('tool-', toString(number %% 25)), concat('session-', toString(intDiv(number, 100)))],
				number
			FROM system.numbers WHERE number >= %d LIMIT %d`, tenants, end.Unix(), n, chunk))
		if err != nil {
			b.Fatalf("generate spans: %v", err)
		}
		n += chunk
	}
	return s, mintJWT(b, "tenant-3"), end
}

func benchGet(b *testing.B, url, jwt string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
}

// reportDisk logs the bytes the spans table takes on disk per span, compressed and not.
func reportDisk(b *testing.B, s *server) {
	b.Helper()
	var rows, compressed, uncompressed uint64
	err := s.ch.QueryRow(context.Background(), `SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes)
		FROM system.parts WHERE database = currentDatabase() AND table = 'spans' AND active`).Scan(&rows, &compressed, &uncompressed)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("spans on disk: %d rows, %.1f bytes per span compressed, %.1f uncompressed",
		rows, float64(compressed)/float64(rows), float64(uncompressed)/float64(rows))
}

// benchTraceIDs are trace ids of tenant-3 (trace t belongs to tenant t % tenants), so that
// trace-by-id reads a different trace each request instead of one cached answer.
func benchTraceIDs(b *testing.B, s *server, tenants int, n int) []string {
	b.Helper()
	rows, err := s.ch.Query(context.Background(), fmt.Sprintf(
		"SELECT lower(hex(sipHash128(toString(number * %d + 3)))) FROM system.numbers LIMIT %d", tenants, n))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// reportLatency reports the median and 99th percentile of the requests' times.
func reportLatency(b *testing.B, took []time.Duration) {
	b.Helper()
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func BenchmarkFetch(b *testing.B) {
	s, jwt, end := benchServer(b)
	_, tenants, _ := benchDataset(b)
	reportDisk(b, s)
	base := "http://" + s.httpAddr.String()
	day := url.Values{"start_time": {end.Add(-24 * time.Hour).Format(time.RFC3339)}, "end_time": {end.Format(time.RFC3339)}}
	month := url.Values{"start_time": {end.Add(-30 * 24 * time.Hour).Format(time.RFC3339)}, "end_time": {end.Format(time.RFC3339)}}
	traceIDs := benchTraceIDs(b, s, tenants, 1000)
	cases := []struct {
		name string
		url  func(i int) string
	}{
		{"trace-by-id", func(i int) string { return base + "/telemetry/traces/" + traceIDs[i%len(traceIDs)] }},
		{"spans-1d", func(int) string { return base + "/telemetry/fetch_spans?" + day.Encode() }},
		{"spans-30d-service-attr", func(int) string {
			return base + "/telemetry/fetch_spans?" + month.Encode() + "&service_name=service-3&attr.mcp.tool.name=tool-7"
		}},
		{"traces-30d", func(int) string { return base + "/telemetry/fetch_traces?" + month.Encode() }},
		{"traces-30d-errors", func(int) string { return base + "/telemetry/fetch_traces?" + month.Encode() + "&status=error" }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				benchGet(b, c.url(i), jwt)
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
			reportLatency(b, took)
		})
	}
}
