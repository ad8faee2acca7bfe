package main

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// recordingModules is a module table with every real module's name whose start and
// stop only record that they ran; failStart names a module whose start fails.
func recordingModules(log *[]string, failStart string) map[string]module {
	mods := map[string]module{}
	for name := range moduleDeps() {
		mods[name] = module{
			start: func(context.Context) error {
				*log = append(*log, "start "+name)
				if name == failStart {
					return errors.New("refused")
				}
				return nil
			},
			stop: func(context.Context) { *log = append(*log, "stop "+name) },
		}
	}
	return mods
}

// TestModulesForEachTarget: which modules each role set starts, in what order, and
// that the manager stops them in exactly the reverse order.
func TestModulesForEachTarget(t *testing.T) {
	tests := []struct {
		roles []string
		want  []string
	}{
		{[]string{"ingest"}, []string{"nats", "stream", "credentials", "api", "ingest"}},
		{[]string{"persist"}, []string{"nats", "stream", "clickhouse", "api", "persist"}},
		{[]string{"fetch"}, []string{"nats", "stream", "credentials", "clickhouse", "api", "fetch"}},
		{[]string{"ingest", "persist", "fetch"}, []string{"nats", "stream", "credentials", "api", "ingest", "clickhouse", "persist", "fetch"}},
	}
	for _, tt := range tests {
		if got := modulesFor(tt.roles); !slices.Equal(got, tt.want) {
			t.Errorf("modulesFor(%v) = %v, want %v", tt.roles, got, tt.want)
		}
		var log []string
		m := moduleManager{modules: recordingModules(&log, "")}
		if err := m.startAll(context.Background(), tt.roles); err != nil {
			t.Fatalf("startAll(%v): %v", tt.roles, err)
		}
		m.stopAll(context.Background())
		m.stopAll(context.Background()) // a second stop does nothing
		var want []string
		for _, name := range tt.want {
			want = append(want, "start "+name)
		}
		for _, name := range slices.Backward(tt.want) {
			want = append(want, "stop "+name)
		}
		if !slices.Equal(log, want) {
			t.Errorf("roles %v ran\n%v\nwant\n%v", tt.roles, log, want)
		}
	}
	// An ingest-only process never touches ClickHouse.
	if slices.Contains(modulesFor([]string{"ingest"}), "clickhouse") {
		t.Error("ingest needs clickhouse")
	}
	// Every dependency is itself a module, and the server's table has every module.
	deps := moduleDeps()
	for m, ds := range deps {
		for _, d := range ds {
			if _, ok := deps[d]; !ok {
				t.Errorf("module %s depends on unknown %s", m, d)
			}
		}
	}
	table := (&server{}).modules()
	for m := range deps {
		if _, ok := table[m]; !ok {
			t.Errorf("module %s has no start/stop in server.modules", m)
		}
	}
	if len(table) != len(deps) {
		t.Errorf("server.modules has %d modules, moduleDeps %d", len(table), len(deps))
	}
}

// TestModuleStartFailureStopsWhatStarted: a module whose start fails stops the
// process: nothing after it starts, and it and everything before it stop in reverse
// (its stop undoes a partial start, e.g. an embedded NATS whose connection failed).
func TestModuleStartFailureStopsWhatStarted(t *testing.T) {
	var log []string
	m := moduleManager{modules: recordingModules(&log, "clickhouse")}
	err := m.startAll(context.Background(), []string{"persist"})
	if err == nil {
		t.Fatal("startAll succeeded with a failing module")
	}
	m.stopAll(context.Background())
	want := []string{"start nats", "start stream", "start clickhouse", "stop clickhouse", "stop stream", "stop nats"}
	if !slices.Equal(log, want) {
		t.Errorf("ran %v, want %v", log, want)
	}
}

// TestBackgroundStopDrains: a module's stop returns only after its goroutines saw
// their context end and returned, so its work drains before its dependencies close.
func TestBackgroundStopDrains(t *testing.T) {
	b := newBackground()
	returned := make(chan struct{})
	b.goWork(func(ctx context.Context) {
		<-ctx.Done()
		close(returned)
	})
	b.stop()
	select {
	case <-returned:
	default:
		t.Fatal("stop returned before the work did")
	}
}
