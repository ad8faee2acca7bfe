package main

import (
	"context"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// waitTailEnded waits for the server to end c's stream: its events channel closes.
// It returns the "error" event the server sent before closing, if any.
func waitTailEnded(t *testing.T, c *tailClient, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(within)
	var last sseEvent
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return last
			}
			if ev.event == "error" {
				last = ev
			}
		case <-deadline:
			t.Fatalf("the tail was still open %s after its credential stopped being valid", within)
		}
	}
}

// TestTailEndsWhenCredentialRevokedOrExpired: an open live tail authenticates its
// credential again every few seconds; revoking its API key through the store, or its
// JWT expiring, ends the stream with an "error" event.
func TestTailEndsWhenCredentialRevokedOrExpired(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.JWT.Leeway = 0 })
	ctx := context.Background()

	t.Run("revoked api key", func(t *testing.T) {
		key, secret, err := s.store.CreateAPIKey(ctx, authn.NewCredential{Tenant: "acme", Scopes: []string{authn.ScopeTelemetryRead}})
		if err != nil {
			t.Fatal(err)
		}
		tail := openTail(t, s, secret, "", "")
		if tail.resp.StatusCode != 200 {
			t.Fatalf("open tail: status %d", tail.resp.StatusCode)
		}
		if _, err := s.store.Revoke(ctx, "acme", authn.KindAPIKey, key.ID); err != nil {
			t.Fatal(err)
		}
		if ev := waitTailEnded(t, tail, 15*time.Second); ev.event != "error" {
			t.Errorf("the tail ended without an error event")
		}
	})

	t.Run("expired jwt", func(t *testing.T) {
		jwt, err := authn.MintHS256([]byte(testJWTSecret), "", "acme", "short-lived", 2*time.Second, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tail := openTail(t, s, jwt, "", "")
		if tail.resp.StatusCode != 200 {
			t.Fatalf("open tail: status %d", tail.resp.StatusCode)
		}
		if ev := waitTailEnded(t, tail, 15*time.Second); ev.event != "error" {
			t.Errorf("the tail ended without an error event")
		}
	})
}
