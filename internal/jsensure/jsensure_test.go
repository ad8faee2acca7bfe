package jsensure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer runs a JetStream server with an owner (every right) and a reader that may
// only ask for stream info, as ingest may for the streams other roles own.
func startServer(t *testing.T) (owner, reader jetstream.JetStream) {
	t.Helper()
	return startServerWith(t, []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.>"})
}

// startServerWith is startServer with the reader allowed to publish to readerPub.
func startServerWith(t *testing.T, readerPub []string) (owner, reader jetstream.JetStream) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "owner", Password: "owner"},
			{Username: "reader", Password: "reader", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: readerPub},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	connect := func(user string) jetstream.JetStream {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, user))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	return connect("owner"), connect("reader")
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestStreamOpenedAsIsAndRepaired: a reader opens a stream already as configured
// without the right to update it; a stream reconfigured to republish its messages is
// refused to the reader and put back by the owner.
func TestStreamOpenedAsIsAndRepaired(t *testing.T) {
	owner, reader := startServer(t)
	cfg := jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, MaxAge: time.Hour, Duplicates: time.Minute}
	if _, err := Stream(ctxT(t, 10*time.Second), owner, cfg); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := Stream(ctxT(t, 10*time.Second), reader, cfg); err != nil {
		t.Fatalf("reader opening the stream as configured: %v", err)
	}
	tampered := cfg
	tampered.RePublish = &jetstream.RePublish{Source: ">", Destination: "stolen.>"}
	if _, err := owner.UpdateStream(ctxT(t, 10*time.Second), tampered); err != nil {
		t.Fatal(err)
	}
	if _, err := Stream(ctxT(t, 2*time.Second), reader, cfg); err == nil || !strings.Contains(err.Error(), "permissions violation") {
		t.Errorf("the reader opening a stream that republishes its messages: %v, want a refusal that names the permission", err)
	}
	s, err := Stream(ctxT(t, 10*time.Second), owner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedInfo().Config.RePublish != nil {
		t.Error("the owner did not remove the republish")
	}
	changed := cfg
	changed.MaxAge = 2 * time.Hour
	s, err = Stream(ctxT(t, 10*time.Second), owner, changed)
	if err != nil || s.CachedInfo().Config.MaxAge != 2*time.Hour {
		t.Errorf("a changed max age was not applied: %v", err)
	}
}

// TestKeyValueOpenedAsIsAndRepaired: the same for a KV bucket, whose stream a source
// could fill with forged records.
func TestKeyValueOpenedAsIsAndRepaired(t *testing.T) {
	owner, reader := startServer(t)
	cfg := jetstream.KeyValueConfig{Bucket: "creds", Description: "credentials", History: 1, Storage: jetstream.FileStorage, Replicas: 1}
	if _, err := KeyValue(ctxT(t, 10*time.Second), owner, cfg); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := KeyValue(ctxT(t, 10*time.Second), reader, cfg); err != nil {
		t.Fatalf("reader opening the bucket as configured: %v", err)
	}
	if _, err := owner.CreateStream(ctxT(t, 10*time.Second), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	s, err := owner.Stream(ctxT(t, 10*time.Second), "KV_creds")
	if err != nil {
		t.Fatal(err)
	}
	tampered := s.CachedInfo().Config
	tampered.Sources = []*jetstream.StreamSource{{Name: "OTHER"}}
	if _, err := owner.UpdateStream(ctxT(t, 10*time.Second), tampered); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyValue(ctxT(t, 2*time.Second), reader, cfg); err == nil {
		t.Error("the reader accepted a bucket that sources another stream")
	}
	if _, err := KeyValue(ctxT(t, 10*time.Second), owner, cfg); err != nil {
		t.Fatal(err)
	}
	if s, _ := owner.Stream(ctxT(t, 10*time.Second), "KV_creds"); len(s.CachedInfo().Config.Sources) != 0 {
		t.Error("the owner did not remove the source")
	}
}

// TestCreatorWithoutUpdateRight: a user allowed to create but not to update (ingest and
// its idempotency bucket) creates the missing stream and bucket, and opens them again.
func TestCreatorWithoutUpdateRight(t *testing.T) {
	_, reader := startServerWith(t, []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.CREATE.>"})
	for range 2 {
		if _, err := Stream(ctxT(t, 5*time.Second), reader, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}}); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if _, err := KeyValue(ctxT(t, 5*time.Second), reader, jetstream.KeyValueConfig{Bucket: "answers"}); err != nil {
			t.Fatalf("bucket: %v", err)
		}
	}
}
