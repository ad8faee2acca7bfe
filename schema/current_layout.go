package schema

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// The current layout is the migrations as written (the legacy layout), rewritten
// statement by statement: the same tables with the same column names in the same order,
// so every INSERT and query runs on both. What changes:
//   - LowCardinality(String) for the columns in LowCardinalityColumns (the only columns
//     whose type changes: a client sending columnar data must send that type);
//   - column codecs, which clients never see: DoubleDelta on DateTime, Delta on the
//     nanosecond times and stream_seq, ZSTD on strings and arrays except the attribute
//     arrays searches scan (LZ4, searchedArrays);
//   - data-skipping indexes (skipIndexes);
//   - ttl_only_drop_parts = 1 on the day-partitioned tables, whose TTL retention sets
//     (ttl.go): --retention-days is a runtime flag, so the TTL is not in the migrations;
//   - the keys and index granularity of spans and trace_index (currentKeys).
// Materialized views are unchanged.

// LowCardinalityColumns are, per table, the String columns that are
// LowCardinality(String) on the current layout: few distinct values (tenants, services,
// span, scope and metric names, severity texts). Every other column has the same type on
// both layouts. Persist code that sends typed columns reads this to pick the column type.
var LowCardinalityColumns = map[string][]string{
	"spans":         {"tenant_id", "name", "service_name", "scope_name", "scope_version"},
	"logs":          {"tenant_id", "severity_text", "service_name", "scope_name", "scope_version", "event_name"},
	"metric_points": {"tenant_id", "metric_name", "metric_description", "metric_unit", "service_name", "scope_name", "scope_version"},
	"trace_index":   {"tenant_id"},
	"services":      {"tenant_id", "service_name", "service_version"},
}

// IsLowCardinality reports whether table.column is LowCardinality(String) on layout l.
func (l Layout) IsLowCardinality(table, column string) bool {
	if l != LayoutCurrent {
		return false
	}
	for _, c := range LowCardinalityColumns[table] {
		if c == column {
			return true
		}
	}
	return false
}

// ColumnType is the type of table.column on layout l, given its type on the legacy
// layout (as the migrations write it).
func (l Layout) ColumnType(table, column, legacyType string) string {
	if l.IsLowCardinality(table, column) {
		return "LowCardinality(" + legacyType + ")"
	}
	return legacyType
}

// skipIndexes are the data-skipping indexes of the current layout, per table. The
// bloom filters make a lookup by trace id read only the granules that may hold it; the
// n-gram filter on the lower-cased body serves body search (fetch matches the body
// case-insensitively).
var skipIndexes = map[string][]string{
	"spans": {"INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1"},
	"logs": {
		"INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1",
		"INDEX body_ngrams lowerUTF8(body) TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1",
	},
}

// tableKeys are a table's ORDER BY and PARTITION BY on the current layout, and the
// legacy ones they replace: a migration that changes a legacy key fails the rewrite until
// this is revisited.
type tableKeys struct {
	legacyOrder, order         string
	legacyPartition, partition string
	settings                   []string // MergeTree settings beyond the server's defaults
}

// currentKeys (BenchmarkFetch over 10 M spans, docs/benchmarks.md). On ClickHouse 26.7
// a query pays about half a millisecond for every part it reads, and a point read
// decompresses every column's whole compressed block around its granule:
//   - spans: the fetch API filters by tenant, then mostly by service and time. With the
//     service before the time, one service's spans are one short run of rows instead
//     of being spread across the tenant's, and with granules of 1 024 rows a 30-day
//     service search reads a few granules per part, not a whole 8 192-row one (6× fewer
//     rows). Partitions by week, not day: a 30-day search reads 5 parts, not 31 (half
//     the time); TTL then drops a week's part when its newest day expires, so data is
//     kept up to 7 days past --retention-days. Compressed blocks of 4–64 KiB, not
//     64 KiB–1 MiB, so a trace lookup (which finds its granule through the trace-id
//     bloom filter, knowing the tenant and time range from trace_index but not the
//     service) decompresses little more than its granule: a third less time for 9 %
//     more bytes on disk.
//   - trace_index: a lookup by trace id probes every part; by month there are one or
//     two parts to probe instead of one per day, and 1 024-row granules read 1 000 rows
//     instead of 250 000. An index entry can outlive its spans by a few weeks, which only
//     makes a lookup of an expired trace read nothing.
//
// 18.16 cannot change a table's keys, and its tables keep theirs.
var currentKeys = map[string]tableKeys{
	"spans": {
		legacyOrder: "(tenant_id, timestamp, trace_id, span_id)", order: "(tenant_id, service_name, timestamp, trace_id, span_id)",
		legacyPartition: "toDate(timestamp)", partition: "toMonday(timestamp)",
		settings: []string{"index_granularity = 1024", "min_compress_block_size = 4096", "max_compress_block_size = 65536"},
	},
	"trace_index": {
		legacyOrder: "(tenant_id, trace_id)", order: "(tenant_id, trace_id)",
		legacyPartition: "day", partition: "toYYYYMM(day)",
		settings: []string{"index_granularity = 1024"},
	},
}

// ttlOnlyDropParts makes TTL retention drop whole parts, as the legacy layout's
// retention drops whole partitions, instead of rewriting parts row by row.
const ttlOnlyDropParts = "ttl_only_drop_parts = 1"

var columnDefault = regexp.MustCompile(`(?i)\s(DEFAULT|MATERIALIZED|ALIAS)\s`)

// searchedArrays are the columns every attribute search (attr.KEY=VALUE) reads for each
// row of its window, so their decompression is most of that search's time: LZ4, which
// decompresses several times faster than ZSTD, makes a 30-day search about 10–15 %
// faster on ClickHouse 26.7 for about 3 bytes more per span (docs/benchmarks.md).
var searchedArrays = map[string]bool{
	"attribute_keys": true, "attribute_values": true,
	"resource_attribute_keys": true, "resource_attribute_values": true,
}

// codecFor is the codec a column gets on the current layout, "" for the server's
// default (LZ4): small numbers and enums compress well without more.
func codecFor(name, typ string) string {
	switch {
	case searchedArrays[name]:
		return "CODEC(LZ4)"
	case strings.HasPrefix(typ, "DateTime"):
		return "CODEC(DoubleDelta, ZSTD(1))" // rows arrive roughly in time order
	case typ == "UInt64" && (strings.HasSuffix(name, "_unix_nano") || name == "stream_seq"):
		return "CODEC(Delta, ZSTD(1))"
	case strings.HasPrefix(typ, "String"), strings.HasPrefix(typ, "LowCardinality("), strings.HasPrefix(typ, "Array("):
		return "CODEC(ZSTD(1))"
	}
	return ""
}

// currentColumn rewrites one column definition ("name Type [DEFAULT expr]") of table.
func currentColumn(table, def string) (string, error) {
	name, rest, ok := strings.Cut(strings.TrimSpace(def), " ")
	if !ok {
		return "", fmt.Errorf("table %s: column definition %q has no type", table, def)
	}
	name = strings.Trim(name, "`")
	typ, tail := strings.TrimSpace(rest), ""
	if padded := " " + typ; columnDefault.MatchString(padded) {
		at := columnDefault.FindStringIndex(padded)[0]
		typ, tail = strings.TrimSpace(padded[:at]), strings.TrimRight(padded[at:], " ")
	}
	if strings.Contains(strings.ToUpper(typ+tail), "CODEC(") {
		return "", fmt.Errorf("table %s column %s: the migrations must not name codecs; the current layout gives them", table, name)
	}
	if LayoutCurrent.IsLowCardinality(table, name) {
		if typ != "String" {
			return "", fmt.Errorf("table %s column %s: LowCardinalityColumns names it but its type is %s, not String", table, name, typ)
		}
		typ = LayoutCurrent.ColumnType(table, name, typ)
	}
	out := name + " " + typ + tail
	if c := codecFor(name, typ); c != "" {
		out += " " + c
	}
	return out, nil
}

// forLayout returns the migrations as they run on layout l.
func forLayout(ms []Migration, l Layout) ([]Migration, error) {
	if l != LayoutCurrent {
		return ms, nil
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = Migration{Version: m.Version, Name: m.Name}
		for j, stmt := range m.Statements {
			s, err := currentStatement(stmt)
			if err != nil {
				return nil, fmt.Errorf("migration %s statement %d on the current layout: %w", m.Name, j+1, err)
			}
			out[i].Statements = append(out[i].Statements, s)
		}
	}
	return out, nil
}

// currentStatement rewrites one migration statement for the current layout. It knows
// the forms the migrations use (as the cluster rewrite does); any other is an error, so
// a new migration cannot silently miss the layout.
func currentStatement(stmt string) (string, error) {
	parsed, err := parseStatement(stmt)
	if errors.Is(err, errNoForm) {
		return "", fmt.Errorf("no current-layout form for %q", firstLine(stmt))
	}
	if err != nil {
		return "", err
	}
	switch st := parsed.(type) {
	case *createTableStmt:
		var defs []string
		for _, def := range st.columns {
			d, err := currentColumn(st.table, def)
			if err != nil {
				return "", err
			}
			defs = append(defs, d)
		}
		defs = append(append(defs, st.indexes...), skipIndexes[st.table]...)
		c := *st
		c.clauses = maps.Clone(st.clauses)
		settings := []string{st.settings()}
		if c.partitionBy() != "" {
			settings = append(settings, ttlOnlyDropParts)
		}
		if key, ok := currentKeys[st.table]; ok {
			if st.orderBy() != key.legacyOrder || st.partitionBy() != key.legacyPartition {
				return "", fmt.Errorf("table %s: ORDER BY %s PARTITION BY %s, but the current layout replaces %s and %s: revisit currentKeys",
					st.table, st.orderBy(), st.partitionBy(), key.legacyOrder, key.legacyPartition)
			}
			c.clauses["ORDER BY"], c.clauses["PARTITION BY"] = key.order, key.partition
			settings = append(settings, key.settings...)
		}
		if s := strings.Join(slices.DeleteFunc(settings, func(s string) bool { return s == "" }), ", "); s != "" {
			c.clauses["SETTINGS"] = s
		}
		return c.sql(st.table, "", defs, st.engine+"("+st.engineArgs+")"), nil
	case *addColumnsStmt:
		if len(st.columns) != 1 {
			return "", fmt.Errorf("%q: one column per ALTER TABLE ... ADD COLUMN", firstLine(stmt))
		}
		d, err := currentColumn(st.table, st.columns[0])
		if err != nil {
			return "", err
		}
		return "ALTER TABLE {db}." + st.table + " ADD COLUMN " + d, nil
	}
	return stmt, nil // a view reads and writes the same tables on every layout
}
