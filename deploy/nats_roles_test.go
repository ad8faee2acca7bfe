package deploy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// shippedNATSServer runs deploy/nats/nats-1.conf alone (its cluster block removed): the
// shipped users and permissions on a free port.
func shippedNATSServer(t *testing.T) (string, map[string]string) {
	t.Helper()
	secrets := setNATSSecrets(t)
	opts := loadNATSConfig(t, "nats/nats-1.conf")
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	return srv.ClientURL(), secrets
}

// roleClient is a connection as one NATS user that records the permission violations
// the server reports.
type roleClient struct {
	user string
	nc   *nats.Conn
	js   jetstream.JetStream

	mu         sync.Mutex
	violations []string
}

func connectAs(t *testing.T, url, user, password string) *roleClient {
	t.Helper()
	c := &roleClient{user: user}
	opts := []nats.Option{nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			c.mu.Lock()
			c.violations = append(c.violations, err.Error())
			c.mu.Unlock()
		}
	})}
	if user != "admin" {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+user)) // as the role env files set it
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// violated reports whether the server refused subject to this user.
func (c *roleClient) violated(subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.violations {
		if strings.Contains(v, `"`+subject+`"`) || strings.HasSuffix(v, " "+subject) {
			return true
		}
	}
	return false
}

// mustBeRefused runs an attack and fails unless it failed and the server reported a
// permission violation on subject.
func (c *roleClient) mustBeRefused(t *testing.T, what, subject string, attack func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := attack(ctx)
	_ = c.nc.Flush()
	deadline := time.Now().Add(2 * time.Second)
	for !c.violated(subject) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil && !strings.HasPrefix(what, "subscribe") {
		t.Errorf("%s could %s", c.user, what)
	}
	if !c.violated(subject) {
		t.Errorf("%s tried to %s: no permission violation on %s (err %v)", c.user, what, subject, err)
	}
}

func ctx10(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestNATSRolePermissions plays each role's NATS user of the shipped configs against a
// server running them: each does its job (a round trip per role with telemetryd's own
// code) and none can do what another role is for.
func TestNATSRolePermissions(t *testing.T) {
	url, secrets := shippedNATSServer(t)
	for name, opts := range map[string][]nats.Option{
		"anonymous":      nil,
		"wrong password": {nats.UserInfo("ingest", secrets["admin"])},
		"route user":     {nats.UserInfo("route", secrets["route"])},
	} {
		if nc, err := nats.Connect(url, opts...); err == nil {
			nc.Close()
			t.Errorf("%s client connected", name)
		}
	}
	ingest := connectAs(t, url, "ingest", secrets["ingest"])
	persist := connectAs(t, url, "persist", secrets["persist"])
	fetch := connectAs(t, url, "fetch", secrets["fetch"])
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := stream.DefaultConfig()

	// The jobs. persist owns the stream and its consumers, fetch the credentials.
	if _, err := stream.Ensure(ctx10(t), persist.js, cfg); err != nil {
		t.Fatalf("persist creates the stream: %v", err)
	}
	durable := stream.ConsumerName("persist", 0)
	cons, err := persist.js.CreateOrUpdateConsumer(ctx10(t), cfg.Name, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: cfg.PartitionFilter(0), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("persist creates its consumer: %v", err)
	}
	fetchStore, err := authn.OpenStore(ctx10(t), fetch.js, authn.DefaultStoreConfig(), logger)
	if err != nil {
		t.Fatalf("fetch opens the credential store: %v", err)
	}
	defer fetchStore.Close()
	_, token, err := fetchStore.CreateIngestToken(ctx10(t), authn.NewCredential{Tenant: "acme", Name: "roles"})
	if err != nil {
		t.Fatalf("fetch writes a credential: %v", err)
	}

	// ingest: reads credentials, records their use, keeps idempotency answers, publishes.
	ingestStore, err := authn.OpenStore(ctx10(t), ingest.js, authn.DefaultStoreConfig(), logger)
	if err != nil {
		t.Fatalf("ingest opens the credential store: %v", err)
	}
	cred, err := ingestStore.AuthenticateIngest(token)
	if err != nil {
		t.Fatalf("ingest authenticates the token fetch made: %v", err)
	}
	ingestStore.RecordUse(cred.ID)
	ingestStore.Close() // writes the use record
	idem, err := jsensure.KeyValue(ctx10(t), ingest.js, jetstream.KeyValueConfig{Bucket: "telemetry_idempotency", TTL: time.Hour})
	if err != nil {
		t.Fatalf("ingest opens its idempotency bucket: %v", err)
	}
	if _, err := idem.Put(ctx10(t), "acme.k1", []byte("answer")); err != nil {
		t.Fatalf("ingest stores an answer: %v", err)
	}
	if e, err := idem.Get(ctx10(t), "acme.k1"); err != nil || string(e.Value()) != "answer" {
		t.Fatalf("ingest reads its answer: %v", err)
	}
	tail, err := fetch.js.OrderedConsumer(ctx10(t), cfg.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{cfg.AllSubjects()}})
	if err != nil {
		t.Fatalf("fetch opens a live tail: %v", err)
	}
	var published uint64
	for range 40 { // some land in partition 0: each misses it with p = 3/4, all 40 with p < 1e-5
		ack, err := stream.NewPublisher(ingest.js, cfg).Publish(ctx10(t), stream.Event{
			Tenant: "acme", TokenID: cred.ID, Signal: stream.SignalTraces, Payload: []byte(time.Now().String()),
		})
		if err != nil {
			t.Fatalf("ingest publishes an event: %v", err)
		}
		published = ack.Sequence
	}
	if _, err := ingest.js.Consumer(ctx10(t), cfg.Name, durable); err != nil {
		t.Errorf("ingest reads persist's progress (backlog): %v", err)
	}
	if m, err := tail.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Errorf("fetch's tail reads an event: %v", err)
	} else if md, _ := m.Metadata(); md == nil || md.Sequence.Stream > published {
		t.Errorf("tail metadata %v", md)
	}

	// persist: consumes and acknowledges, dead-letters, keeps its membership.
	batch, err := cons.Fetch(8, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx10(t)); err != nil {
			t.Errorf("persist acknowledges: %v", err)
		}
		n++
	}
	if n == 0 {
		t.Error("persist consumed nothing from partition 0")
	}
	if _, err := persist.js.CreateOrUpdateStream(ctx10(t), jetstream.StreamConfig{Name: "telemetry_dead_letter", Subjects: []string{"telemetry_dead_letter.>"}}); err != nil {
		t.Fatalf("persist creates the dead-letter stream: %v", err)
	}
	if _, err := persist.js.Publish(ctx10(t), "telemetry_dead_letter.acme", []byte("x")); err != nil {
		t.Errorf("persist dead-letters: %v", err)
	}
	members, err := persist.js.CreateOrUpdateKeyValue(ctx10(t), jetstream.KeyValueConfig{Bucket: "telemetry_persist_members"})
	if err != nil {
		t.Fatalf("persist opens its membership bucket: %v", err)
	}
	if _, err := members.Put(ctx10(t), "worker1", []byte("alive")); err != nil {
		t.Errorf("persist writes its membership: %v", err)
	}
	for _, c := range []*roleClient{ingest, persist, fetch} {
		if len(c.violations) > 0 {
			t.Errorf("%s hit permissions doing its job: %v", c.user, c.violations)
		}
	}

	checkRefusals(t, cfg, ingest, persist, fetch)
}

// checkRefusals: what each role must not do, each refused by the server.
func checkRefusals(t *testing.T, cfg stream.Config, ingest, persist, fetch *roleClient) {
	t.Helper()
	credPut := func(c *roleClient) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.js.Publish(ctx, "$KV.telemetry_credentials.cred.attacker", []byte(`{"tenant":"victim"}`))
			return err
		}
	}
	subscribe := func(c *roleClient, subject string) func(context.Context) error {
		return func(context.Context) error { _, err := c.nc.SubscribeSync(subject); return err }
	}
	newConsumer := func(c *roleClient, streamName string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{Name: "steal"})
			return err
		}
	}
	republish := func(ctx context.Context) error {
		_, err := ingest.js.UpdateStream(ctx, jetstream.StreamConfig{Name: cfg.Name, Subjects: []string{cfg.AllSubjects()},
			RePublish: &jetstream.RePublish{Source: ">", Destination: "_INBOX_ingest.stolen.>"}})
		return err
	}
	sourceIntoIdempotency := func(ctx context.Context) error {
		_, err := ingest.js.UpdateStream(ctx, jetstream.StreamConfig{Name: "KV_telemetry_idempotency",
			Sources: []*jetstream.StreamSource{{Name: cfg.Name}}})
		return err
	}
	directGet := func(ctx context.Context) error {
		_, err := ingest.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+cfg.Name, []byte(`{"seq":1}`))
		return err
	}
	for _, a := range []struct {
		c       *roleClient
		what    string
		subject string
		attack  func(context.Context) error
	}{
		{ingest, "write a credential", "$KV.telemetry_credentials.cred.attacker", credPut(ingest)},
		{ingest, "consume events", "$JS.API.CONSUMER.CREATE." + cfg.Name + ".steal", newConsumer(ingest, cfg.Name)},
		{ingest, "read an event directly", "$JS.API.DIRECT.GET." + cfg.Name, directGet},
		{ingest, "subscribe to events", "telemetry.>", subscribe(ingest, "telemetry.>")},
		{ingest, "subscribe to persist's deliveries", "_INBOX_persist.>", subscribe(ingest, "_INBOX_persist.>")},
		{ingest, "subscribe to every inbox", "_INBOX.>", subscribe(ingest, "_INBOX.>")},
		{ingest, "republish the stream to itself", "$JS.API.STREAM.UPDATE." + cfg.Name, republish},
		{ingest, "source events into its bucket", "$JS.API.STREAM.UPDATE.KV_telemetry_idempotency", sourceIntoIdempotency},
		{ingest, "delete the stream", "$JS.API.STREAM.DELETE." + cfg.Name, func(ctx context.Context) error { return ingest.js.DeleteStream(ctx, cfg.Name) }},
		{persist, "write a credential", "$KV.telemetry_credentials.cred.attacker", credPut(persist)},
		{persist, "read credentials", "$JS.API.CONSUMER.CREATE.KV_telemetry_credentials.steal", newConsumer(persist, "KV_telemetry_credentials")},
		{fetch, "publish an event", "telemetry.0.traces", func(ctx context.Context) error {
			_, err := fetch.js.Publish(ctx, "telemetry.0.traces", []byte("forged"))
			return err
		}},
		{fetch, "acknowledge persist's events", "$JS.ACK." + cfg.Name + ".persist-0.1.1.1.1.0", func(ctx context.Context) error {
			_, err := fetch.nc.RequestWithContext(ctx, "$JS.ACK."+cfg.Name+".persist-0.1.1.1.1.0", []byte("+ACK"))
			return err
		}},
		{fetch, "subscribe to ingest's inbox", "_INBOX_ingest.>", subscribe(fetch, "_INBOX_ingest.>")},
	} {
		a.c.mustBeRefused(t, a.what, a.subject, a.attack)
	}
}
