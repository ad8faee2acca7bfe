package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestClickHouseDownAtStartAndLater: a server started while ClickHouse cannot be reached
// waits for it (saying so in its log) instead of exiting, and comes up once it answers;
// a span then round-trips. When ClickHouse goes away again /ready says not ready and
// fetch answers 503 with Retry-After in the usual JSON error shape, and both recover
// when it returns.
func TestClickHouseDownAtStartAndLater(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	proxy := newTCPProxy(t, testenv.ClickHouseAddr(t))
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	httpAddr := freeAddr(t)
	cfg := testServeConfig(t, func(c *serveConfig) {
		c.ClickHouseDSN = "clickhouse://" + proxy.addr + "/" + db
		c.HTTPAddr = httpAddr
	})
	logs := &syncBuffer{}

	type started struct {
		s   *server
		err error
	}
	done := make(chan started, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := startServer(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
		done <- started{s, err}
	}()
	testenv.Eventually(t, 20*time.Second, "the server to log that it waits for clickhouse", func() bool {
		select {
		case r := <-done:
			if r.s != nil {
				r.s.stop(context.Background())
			}
			t.Fatalf("the server did not wait for clickhouse: %v", r.err)
		default:
		}
		return strings.Contains(logs.String(), "waiting_for=clickhouse")
	})
	// While it waits, it lives but is not ready.
	if code, body := ready(t, "http://"+httpAddr); code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Errorf("/ready while waiting for clickhouse: %d %v, want 503 not ready", code, body)
	}
	if resp, _ := rawGet(t, "http://"+httpAddr+"/health", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/health while waiting for clickhouse: %d, want 200", resp.StatusCode)
	}

	proxy.up()
	var s *server
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("start once clickhouse answers: %v\n%s", r.err, logs.String())
		}
		s = r.s
	case <-time.After(time.Minute):
		t.Fatal("the server did not start after clickhouse came up")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.stop(ctx)
	})
	base := "http://" + s.httpAddr.String()
	if code, body := ready(t, base); code != http.StatusOK {
		t.Fatalf("/ready %d %v once clickhouse answers", code, body)
	}

	tok, jwt := ingestToken(t, s, "acme"), mintJWT(t, "acme")
	mustPost(t, s, tok, tracesBody(t, 1, 3))
	window := url.Values{"start_time": {itoa(time.Now().Add(-time.Hour).UnixMilli())}, "end_time": {itoa(time.Now().Add(time.Hour).UnixMilli())}}
	spansURL := base + "/telemetry/fetch_spans?" + window.Encode()
	testenv.Eventually(t, 20*time.Second, "the span round trip", func() bool {
		var page fetch.SpansPage
		return getJSON(t, spansURL, jwt, &page) == http.StatusOK && page.TotalCount == 3
	})

	proxy.down()
	resp, body := rawGet(t, spansURL, jwt)
	var shape map[string]string
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
		json.Unmarshal(body, &shape) != nil || shape["error"] == "" {
		t.Errorf("fetch with clickhouse down: %d Retry-After %q body %s, want 503, Retry-After 5, {\"error\":…}",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if code, body := ready(t, base); code != http.StatusServiceUnavailable || body["checks"].(map[string]any)["clickhouse"] != "unreachable" {
		t.Errorf("/ready %d %v with clickhouse down", code, body)
	}

	proxy.up()
	testenv.Eventually(t, 20*time.Second, "fetch to answer again after clickhouse returned", func() bool {
		var page fetch.SpansPage
		return getJSON(t, spansURL, jwt, &page) == http.StatusOK && page.TotalCount == 3
	})
	if code, body := ready(t, base); code != http.StatusOK {
		t.Errorf("/ready %d %v after clickhouse returned", code, body)
	}
}

func ready(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, body := rawGet(t, base+"/ready", "")
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/ready body %s: %v", body, err)
	}
	return resp.StatusCode, out
}
