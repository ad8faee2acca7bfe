package main

import (
	"slices"
	"testing"
)

// TestModulesForEachTarget: which modules each role set starts, and in what order.
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
	}
	// An ingest-only process never touches ClickHouse.
	if slices.Contains(modulesFor([]string{"ingest"}), "clickhouse") {
		t.Error("ingest needs clickhouse")
	}
	// Every dependency is itself a module.
	deps := moduleDeps()
	for m, ds := range deps {
		for _, d := range ds {
			if _, ok := deps[d]; !ok {
				t.Errorf("module %s depends on unknown %s", m, d)
			}
		}
	}
}
