package main

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"nats://u:secret@a:4222,tls://b:4222":        "nats://a:4222,tls://b:4222",
		"nats://token@a:4222,nats://u:p@b:4222/path": "nats://a:4222,nats://b:4222/path",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
