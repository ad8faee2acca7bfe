package persist

import (
	"context"
	"fmt"
	"testing"

	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// TestColumnsMatchTheMigratedTables: each table's column declaration names the
// columns the migrations give the table, with their ClickHouse types, in the table's
// order, so an accessor filed under the wrong column of the same type stands out as a
// reordering, and one of another type as a type mismatch. On the current layout a
// low-cardinality column is LowCardinality of the declared type: the server converts
// the plain column an INSERT sends (TestInsertPathsStoreTheSameRows runs on both).
func TestColumnsMatchTheMigratedTables(t *testing.T) {
	ch := rtDatabase(t)
	layout, err := schema.ConnLayout(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	for _, signal := range []stream.Signal{stream.SignalTraces, stream.SignalLogs, stream.SignalMetrics} {
		tbl := tables[signal]
		t.Run(tbl.name, func(t *testing.T) {
			// system.columns lists a table's columns in their order (18.16 has no
			// position column to sort by).
			rows, err := ch.Query(context.Background(),
				"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ?", tbl.name)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var migrated []string
			for rows.Next() {
				var name, typ string
				if err := rows.Scan(&name, &typ); err != nil {
					t.Fatal(err)
				}
				migrated = append(migrated, name+" "+typ)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			declared := make([]string, len(tbl.described))
			for i, c := range tbl.described {
				declared[i] = fmt.Sprintf("%s %s", c.Name, layout.ColumnType(tbl.name, c.Name, string(c.Type)))
			}
			for i := range max(len(migrated), len(declared)) {
				var m, d string
				if i < len(migrated) {
					m = migrated[i]
				}
				if i < len(declared) {
					d = declared[i]
				}
				if m != d {
					t.Errorf("column %d: migrated %q, declared %q", i, m, d)
				}
			}
		})
	}
}

// TestEveryColumnIsFilledOncePerRow: a decoded event fills every declared column with
// one value per row, so no accessor returns another column's length.
func TestEveryColumnIsFilledOncePerRow(t *testing.T) {
	payloads := map[stream.Signal][]byte{
		stream.SignalTraces:  marshal(t, richTraces()),
		stream.SignalLogs:    logsPayload(t, 1, 3),
		stream.SignalMetrics: payload(t, stream.SignalMetrics, 1, 3),
	}
	for signal, p := range payloads {
		tbl := tables[signal]
		rows, err := tbl.decode(p, wireMeta)
		if err != nil {
			t.Fatalf("%s: %v", tbl.name, err)
		}
		b := newBlock(tbl)
		b.fill([]*event{{rows: rows}})
		for _, c := range b.input() {
			if c.Data.Rows() != rows.len() {
				t.Errorf("%s.%s has %d values for %d rows", tbl.name, c.Name, c.Data.Rows(), rows.len())
			}
		}
	}
}
