package schema

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// On a ClickHouse cluster (--clickhouse-cluster) the migrations are rewritten, not
// duplicated: every table that holds data becomes <name>_local, a Replicated*MergeTree
// created ON CLUSTER, plus <name>, a Distributed table over the <name>_local of every
// shard, so every other package keeps reading and writing the plain names. Materialized
// views read and write the local tables: a view fires for the rows inserted into its
// shard's local table, and its target is sharded and distributed like the rest.
//
// The rewrite parses the few statement forms the migrations use (CREATE TABLE, one-column
// ALTER TABLE ... ADD COLUMN, CREATE MATERIALIZED VIEW ... TO; see ddl.go) and writes
// the cluster's statements from the parsed parts; any other form is an error, so a new
// migration cannot silently miss the cluster.
//
// An ADD COLUMN goes to the local tables only: ClickHouse 18.16 refuses ALTER ... ON
// CLUSTER on a Distributed table when the cluster's shards have internal_replication
// (code 371, "isn't replicated, but shard is replicated"). Instead, once the migrations
// ran, a Distributed table that lacks a column the migrations give its local table is
// made again with all of them (it holds no data: persist inserts synchronously). The
// check only ever adds columns, so a run that re-applies an old migration, or an older
// binary migrating next to a newer one, never takes a column away.

// LocalSuffix names the shard-local table behind each distributed table.
const LocalSuffix = "_local"

// shardingKeys says how each data table's rows are spread over the shards; a table must
// have one to be created on a cluster.
//
// Signal rows go by their event (stream_seq): every row of an event lands on one shard.
// The persist worker's redelivery lookup asks "are the rows of event N stored?"; an
// INSERT through a Distributed table is not atomic across shards, so with rows of one
// event on several shards an INSERT that failed on one shard could leave the event
// half-stored and look complete. Keyed by event, an event is all on one shard or not
// stored. Reads by trace id still work (a Distributed SELECT asks every shard, and
// trace_index's states merge across shards), they just cannot skip shards.
//
// The materialized views write into each shard's local trace_index and services, so
// their keys only matter to a client writing through the Distributed table; they keep
// one aggregation key on one shard.
var shardingKeys = map[string]string{
	"spans":         "cityHash64(stream_seq)",
	"logs":          "cityHash64(stream_seq)",
	"metric_points": "cityHash64(stream_seq)",
	"trace_index":   "cityHash64(tenant_id, trace_id)",
	"services":      "cityHash64(tenant_id, service_name)",
}

// clusterName is what --clickhouse-cluster may be: it is quoted into DDL.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$`)

// ValidateCluster checks a --clickhouse-cluster value: empty (one server) or the name of
// a cluster in the servers' remote_servers. It is quoted into DDL, so it must be plain.
func ValidateCluster(name string) error {
	if name != "" && !clusterName.MatchString(name) {
		return fmt.Errorf("clickhouse cluster name %q: only letters, digits, _ and - are allowed", name)
	}
	return nil
}

// step is one statement Migrate runs, with {db} standing for the database.
type step struct {
	sql string
	// columns are the one-column ALTER TABLE ... ADD COLUMN statements sql is made of,
	// when it adds columns: if ClickHouse answers that a column exists (a migration
	// that stopped halfway runs again), each is run on its own and an existing column
	// counts as added.
	columns []string
}

// dataTable is a data table seen so far: the column definitions its Distributed table
// needs, in order.
type dataTable struct {
	columns []string
}

// distributedTable is the final form of a Distributed table, after every migration.
type distributedTable struct {
	name    string
	columns []string // column names
	drop    string   // DROP TABLE ... ON CLUSTER
	create  string   // CREATE TABLE ... ON CLUSTER ... ENGINE = Distributed(...)
}

// clusterPlan rewrites migrations for a cluster. It sees every migration in order,
// applied or not, since later ones refer to the tables earlier ones created.
type clusterPlan struct {
	cluster string
	tables  map[string]*dataTable
	order   []string // the tables in creation order
}

func newClusterPlan(cluster string) *clusterPlan {
	return &clusterPlan{cluster: cluster, tables: map[string]*dataTable{}}
}

// onCluster is the ON CLUSTER clause.
func (p *clusterPlan) onCluster() string { return "ON CLUSTER '" + p.cluster + "'" }

// migration rewrites one migration's statements.
func (p *clusterPlan) migration(m Migration) ([]step, error) {
	parsed := make([]any, len(m.Statements))
	for i, stmt := range m.Statements {
		st, err := parseStatement(stmt)
		if errors.Is(err, errNoForm) {
			return nil, fmt.Errorf("migration %s statement %d: no cluster form for %q", m.Name, i+1, firstLine(stmt))
		}
		if err != nil {
			return nil, fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
		}
		parsed[i] = st
	}
	var out []step
	for i := 0; i < len(parsed); i++ {
		var steps []step
		var err error
		switch st := parsed[i].(type) {
		case *createTableStmt:
			steps, err = p.createTable(st)
		case *addColumnsStmt:
			// Consecutive ADD COLUMNs of one table become one ALTER: on a cluster each
			// ALTER is a distributed DDL task, and one per column would be slow.
			group := []*addColumnsStmt{st}
			for i+1 < len(parsed) {
				next, ok := parsed[i+1].(*addColumnsStmt)
				if !ok || next.table != st.table {
					break
				}
				group = append(group, next)
				i++
			}
			var s step
			s, err = p.addColumns(st.table, group, m.Statements[i+1-len(group):i+1])
			steps = []step{s}
		case *createViewStmt:
			var s step
			s, err = p.createView(st)
			steps = []step{s}
		}
		if err != nil {
			return nil, fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
		}
		out = append(out, steps...)
	}
	return out, nil
}

// createTable makes a data table's local and distributed tables.
func (p *clusterPlan) createTable(c *createTableStmt) ([]step, error) {
	name, engine := c.table, c.engine
	if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
		return nil, fmt.Errorf("table %s: engine %s has no replicated form to create on a cluster", name, engine)
	}
	if _, ok := shardingKeys[name]; !ok {
		return nil, fmt.Errorf("table %s has no sharding key: add one to schema.shardingKeys", name)
	}
	if _, ok := p.tables[name]; ok {
		return nil, fmt.Errorf("table %s is created twice", name)
	}
	p.tables[name] = &dataTable{columns: slices.Clone(c.columns)}
	p.order = append(p.order, name)
	local := name + LocalSuffix
	replicated := "'/clickhouse/tables/{shard}/{db}/" + local + "', '{replica}'"
	if c.engineArgs != "" {
		replicated += ", " + c.engineArgs // e.g. ReplacingMergeTree(version) keeps its version column
	}
	entries := append(slices.Clone(c.columns), c.indexes...)
	sql := c.sql(local, p.onCluster(), entries, "Replicated"+engine+"("+replicated+")")
	return []step{{sql: sql}, {sql: p.distributed(name)}}, nil
}

// distributed creates name's Distributed table with the columns known so far. The
// columns are spelled out rather than copied (AS {db}.name_local): a replica may not
// have applied a replicated ALTER yet when the statement reaches it.
func (p *clusterPlan) distributed(name string) string {
	return "CREATE TABLE IF NOT EXISTS {db}." + name + " " + p.onCluster() + "\n(\n    " +
		strings.Join(p.tables[name].columns, ",\n    ") + "\n)\n" +
		"ENGINE = Distributed('" + p.cluster + "', '{db}', '" + name + LocalSuffix + "', " + shardingKeys[name] + ")"
}

// final is every Distributed table in the form the migrations seen so far give it.
func (p *clusterPlan) final() []distributedTable {
	var out []distributedTable
	for _, name := range p.order {
		d := distributedTable{
			name:   name,
			drop:   "DROP TABLE IF EXISTS {db}." + name + " " + p.onCluster(),
			create: p.distributed(name),
		}
		for _, def := range p.tables[name].columns {
			d.columns = append(d.columns, columnName(def))
		}
		out = append(out, d)
	}
	return out
}

// addColumns adds the columns of one-column ALTERs (group, parsed from stmts) to
// table's local table.
func (p *clusterPlan) addColumns(table string, group []*addColumnsStmt, stmts []string) (step, error) {
	t, ok := p.tables[table]
	if !ok {
		return step{}, fmt.Errorf("ALTER of %s, which no migration created", table)
	}
	var defs, singles []string
	for i, a := range group {
		if len(a.columns) != 1 {
			return step{}, fmt.Errorf("%q: one column per ALTER TABLE ... ADD COLUMN", firstLine(stmts[i]))
		}
		if a.placed {
			return step{}, fmt.Errorf("%q: AFTER/FIRST cannot be kept in a Distributed table", firstLine(stmts[i]))
		}
		def := a.columns[0]
		defs = append(defs, "ADD COLUMN "+def)
		singles = append(singles, p.alterLocal(table, "ADD COLUMN "+def))
		t.columns = append(t.columns, def)
	}
	return step{sql: p.alterLocal(table, strings.Join(defs, ",\n    ")), columns: singles}, nil
}

func (p *clusterPlan) alterLocal(table, commands string) string {
	return "ALTER TABLE {db}." + table + LocalSuffix + " " + p.onCluster() + " " + commands
}

// createView makes a materialized view read and write the local tables.
func (p *clusterPlan) createView(v *createViewStmt) (step, error) {
	if _, ok := p.tables[v.target]; !ok {
		return step{}, fmt.Errorf("view %s writes to %s, which no migration created", v.view, v.target)
	}
	var unknown []string
	query := v.queryWith(func(name string) string {
		if _, ok := p.tables[name]; !ok {
			unknown = append(unknown, name)
			return name
		}
		return name + LocalSuffix
	})
	if len(unknown) > 0 {
		return step{}, fmt.Errorf("view %s reads %s, which no migration created", v.view, strings.Join(unknown, ", "))
	}
	return step{sql: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}." + v.view + " " + p.onCluster() +
		" TO {db}." + v.target + LocalSuffix + " AS\n" + query}, nil
}

// migrationPlan is what Migrate runs.
type migrationPlan struct {
	steps [][]step // per migration
	// distributed are the Distributed tables as the last migration leaves them (on a
	// cluster): made again after the migrations when one lacks a column.
	distributed []distributedTable
}

// plan returns the steps of every migration: the statements as written on one server
// (cluster ""), rewritten for the cluster otherwise.
func plan(ms []Migration, cluster string) (migrationPlan, error) {
	out := migrationPlan{steps: make([][]step, len(ms))}
	if cluster == "" {
		for i, m := range ms {
			for _, stmt := range m.Statements {
				s := step{sql: stmt}
				if a, err := parseStatement(stmt); err == nil {
					if a, ok := a.(*addColumnsStmt); ok && len(a.columns) == 1 {
						s.columns = []string{stmt}
					}
				}
				out.steps[i] = append(out.steps[i], s)
			}
		}
		return out, nil
	}
	if err := ValidateCluster(cluster); err != nil {
		return out, err
	}
	p := newClusterPlan(cluster)
	var errs []error
	for i, m := range ms {
		steps, err := p.migration(m)
		errs = append(errs, err)
		out.steps[i] = steps
	}
	out.distributed = p.final()
	return out, errors.Join(errs...)
}

// setupStatements create the database and the migrations' bookkeeping table.
//
// On a cluster, schema_migrations is one replicated table with a replica on every node
// of every shard (its ZooKeeper path has no {shard}), so a migrate run on any node sees
// what a run on another recorded. '{shard}-{replica}' keeps replica names unique across
// shards even where {replica} alone repeats (replica1 of each shard).
func setupStatements(db, cluster string) []string {
	if cluster == "" {
		return []string{
			"CREATE DATABASE IF NOT EXISTS " + db,
			"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
		}
	}
	on := "ON CLUSTER '" + cluster + "'"
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + db + " " + on,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations " + on +
			" (version UInt32, name String, applied_at DateTime)" +
			" ENGINE = ReplicatedMergeTree('/clickhouse/tables/" + cluster + "/" + db + "/schema_migrations', '{shard}-{replica}') ORDER BY version",
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
