package schema

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// migrationDDL is every statement the embedded migrations produce: as written on one
// server, rewritten for the current layout, and rewritten for a cluster (with each
// step's one-column fallbacks and the final Distributed tables).
func migrationDDL(t *testing.T) string {
	t.Helper()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	write := func(title string, steps []step) {
		for i, s := range steps {
			fmt.Fprintf(&b, "-- %s step %d\n%s;\n", title, i+1, s.sql)
			for j, c := range s.columns {
				fmt.Fprintf(&b, "-- %s step %d one-column fallback %d\n%s;\n", title, i+1, j+1, c)
			}
		}
	}
	single, err := plan(ms, "")
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := plan(ms, "telemetry")
	if err != nil {
		t.Fatal(err)
	}
	current, err := forLayout(ms, LayoutCurrent)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		write("one server "+m.Name, single.steps[i])
		write("cluster "+m.Name, cluster.steps[i])
		for j, stmt := range current[i].Statements {
			fmt.Fprintf(&b, "-- current layout %s statement %d\n%s;\n", m.Name, j+1, stmt)
		}
	}
	for _, d := range cluster.distributed {
		fmt.Fprintf(&b, "-- final distributed %s (%s)\n%s;\n%s;\n", d.name, strings.Join(d.columns, " "), d.drop, d.create)
	}
	return b.String()
}

// TestMigrationDDLUnchanged: the DDL generated for today's migrations is exactly what
// the regex-based rewrite produced (testdata/migration_ddl.golden was written by it),
// so replacing it with the parsed statements changed no statement Migrate runs.
func TestMigrationDDLUnchanged(t *testing.T) {
	const golden = "testdata/migration_ddl.golden"
	got := migrationDDL(t)
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("generated DDL differs from %s at line %d:\ngot:  %q\nwant: %q", golden, i+1, g, w)
			}
		}
	}
}
