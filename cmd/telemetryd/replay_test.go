package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// publishLogs stores n log events of two records each in the default stream.
func publishLogs(t *testing.T, pub *stream.Publisher, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ld := plog.NewLogs()
		sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
		for j := 0; j < 2; j++ {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.Body().SetStr("replay-" + strconv.Itoa(i) + "-" + strconv.Itoa(j))
		}
		b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(context.Background(), stream.Event{Tenant: "acme", Signal: stream.SignalLogs, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplayCLI(t *testing.T) {
	srv, _, js := testenv.JetStream(t)
	ctx := context.Background()
	scfg := stream.DefaultConfig()
	if _, err := stream.Ensure(ctx, js, scfg); err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(js, scfg)
	publishLogs(t, pub, 0, 5)
	publishLogs(t, pub, 5, 3)
	// --since takes RFC 3339 with fractions of a second: the stream's own stamp on
	// event 6 starts the later events (each publish waited for the previous ack).
	since := testenv.StoredAt(t, js, scfg.Name, 6)

	// The database does not exist yet: replay creates it.
	dsn := testenv.ClickHouseDSN(t)
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	if err := testenv.ClickHouse(t, dsn).Exec(ctx, "DROP DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	replay := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"replay", "--nats-url", srv.ClientURL(), "--clickhouse-dsn", dsn}, args...)
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	out := replay("--from-seq", "3", "--batch-max-events", "2")
	for _, want := range []string{
		"replayed seq 4/8: 2 events, 4 rows written, 0 already stored, 0 skipped\n",
		"replayed seq 8/8: 6 events, 12 rows written, 0 already stored, 0 skipped\n",
		"replay done: caught up with seq 8 in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ch := testenv.ClickHouse(t, dsn)
	count := func() uint64 {
		var n uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM logs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 12 {
		t.Errorf("%d log rows, want 12", n)
	}

	out = replay("--since", since.Format(time.RFC3339Nano))
	if !strings.Contains(out, "3 events, 0 rows written, 3 already stored, 0 skipped") {
		t.Errorf("replay --since of stored events:\n%s", out)
	}
	out = replay("--from-seq", "1")
	if !strings.Contains(out, "8 events, 4 rows written, 6 already stored") {
		t.Errorf("replay --from-seq 1:\n%s", out)
	}
	if n := count(); n != 16 {
		t.Errorf("%d log rows, want 16", n)
	}
}

func TestReplayCLIFlags(t *testing.T) {
	// Each is refused before anything is dialled (the NATS URL leads nowhere).
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no start", nil, "one of --from-seq (1 or more) and --since is required"},
		{"both starts", []string{"--from-seq", "1", "--since", "2024-05-01T00:00:00Z"}, "exclude each other"},
		{"bad time", []string{"--since", "yesterday"}, "RFC 3339"},
		{"bad batch", []string{"--from-seq", "1", "--batch-max-events", "0"}, "--batch-max-events must be"},
		{"bad dsn", []string{"--from-seq", "1", "--clickhouse-dsn", "clickhouse://127.0.0.1:1/bad-name"}, "--clickhouse-dsn"},
		{"unknown flag", []string{"--from-seq", "1", "--partitions", "3"}, "not defined"},
		{"negative start", []string{"--from-seq", "-1"}, "-from-seq"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"replay", "--nats-url", "nats://127.0.0.1:1"}, tc.args...), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"replay", "--since", "x", "--batch-max-events", "0"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--since") || !strings.Contains(err.Error(), "--batch-max-events") {
		t.Errorf("every mistake is reported at once: %v", err)
	}
}
