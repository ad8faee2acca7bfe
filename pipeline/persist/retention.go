package persist

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/schema"
)

// retentionTables are the day-partitioned tables retention prunes (PARTITION BY
// toDate(...)); the only table names ever put into its SQL.
var retentionTables = map[string]bool{"spans": true, "logs": true, "metric_points": true, "trace_index": true}

var (
	// A toDate partition's id is its day as YYYYMMDD, whatever the server shows as its
	// name: the day 0 of a DateTime at or before the epoch is "0000-00-00" on 18.16
	// and "1970-01-01" later, but "19700101" on both.
	dayPartitionID = regexp.MustCompile(`^[0-9]{8}$`)
	identifier     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// partitionIDLayout is the time layout of a day partition's id.
const partitionIDLayout = "20060102"

// Retention keeps a number of days of data. On the legacy layout it drops whole day
// partitions older than that: ClickHouse 18.16 has no TTL, and dropping a partition is
// instant and frees its disk at once. On the current layout the server deletes old parts
// itself by TTL (ttl_only_drop_parts); Retention only sets the TTL from Days when it
// differs (schema.SetTTL), so a changed --retention-days takes effect at the next start.
type Retention struct {
	ch     driver.Conn
	cfg    RetentionConfig
	logger *slog.Logger
	now    func() time.Time
}

// RetentionConfig says which data Retention keeps.
type RetentionConfig struct {
	Database string
	// Cluster is the ClickHouse cluster the tables are distributed over (as
	// --clickhouse-cluster); "" for one server. On a cluster the partitions live in
	// each shard's <table>_local, listed on every shard and dropped ON CLUSTER.
	Cluster string
	Days    int // full days kept besides today; <= 0 keeps everything (and removes a TTL)
}

// NewRetention keeps cfg.Days full days of data besides today in the signal tables.
func NewRetention(ch driver.Conn, cfg RetentionConfig, logger *slog.Logger) *Retention {
	return &Retention{ch: ch, cfg: cfg, logger: logger, now: time.Now}
}

// RunOnce drops every active partition dated before the cutoff and reports how many it
// dropped; on the current layout it sets the tables' TTL instead and reports how many
// tables it changed. Dates are days of the server's time zone (toDate); the cutoff is computed in
// UTC, so near midnight a partition may be kept a little longer, never dropped early by
// more than the zone's offset. Partitions are named by id (YYYYMMDD), which every server
// version gives every day, 1970's included: one of a time the tables could not hold
// (shown as 0000-00-00) is the oldest day and goes at the first run.
func (r *Retention) RunOnce(ctx context.Context) (int, error) {
	// The database and cluster names are configuration, not user input, but they are
	// spliced into SQL, so they must look like identifiers.
	if !identifier.MatchString(r.cfg.Database) {
		return 0, fmt.Errorf("retention: invalid database name %q", r.cfg.Database)
	}
	if err := schema.ValidateCluster(r.cfg.Cluster); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	layout, err := schema.DatabaseLayout(ctx, r.ch, r.cfg.Database)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if layout == schema.LayoutCurrent {
		n, err := schema.SetTTL(ctx, r.ch, r.cfg.Database, r.cfg.Days)
		if n > 0 {
			r.logger.Info("retention: set the tables' TTL", "tables", n, "days", r.cfg.Days)
		}
		if err != nil {
			return n, fmt.Errorf("retention: %w", err)
		}
		return n, nil
	}
	if r.cfg.Days <= 0 {
		return 0, nil
	}
	cutoff := r.now().UTC().AddDate(0, 0, -r.cfg.Days).Format(partitionIDLayout)
	parts, err := r.partitions(ctx)
	if err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}
	dropped := 0
	for _, p := range parts {
		// The id is spliced into the ALTER (DROP PARTITION takes no bound parameter),
		// so only eight digits of an allowed table get there.
		if !r.prunes(p.table) || !dayPartitionID.MatchString(p.id) {
			r.logger.Warn("retention: skipping partition that is not a day", "table", p.table, "partition", p.name, "partition_id", p.id)
			continue
		}
		if p.id >= cutoff { // YYYYMMDD compares as text in date order
			continue
		}
		stmt := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION ID '%s'", r.cfg.Database, p.table, p.id)
		if r.cfg.Cluster != "" {
			// Run by one replica of every shard; a shard without the partition has
			// nothing to drop.
			stmt = fmt.Sprintf("ALTER TABLE %s.%s ON CLUSTER '%s' DROP PARTITION ID '%s'", r.cfg.Database, p.table, r.cfg.Cluster, p.id)
		}
		if err := r.ch.Exec(ctx, stmt); err != nil {
			return dropped, fmt.Errorf("retention: drop %s partition %s: %w", p.table, p.id, err)
		}
		dropped++
		r.logger.Info("retention: dropped partition", "table", p.table, "partition", p.name, "partition_id", p.id, "cluster", r.cfg.Cluster)
	}
	return dropped, nil
}

// suffix is what the tables holding the partitions add to the signal tables' names.
func (r *Retention) suffix() string {
	if r.cfg.Cluster != "" {
		return schema.LocalSuffix
	}
	return ""
}

// prunes reports whether table, as system.parts names it, is one retention prunes.
func (r *Retention) prunes(table string) bool {
	base, ok := strings.CutSuffix(table, r.suffix())
	return ok && retentionTables[base]
}

// partition is an active partition: its table, id (what DROP PARTITION ID takes) and
// name as the server shows it (for the log).
type partition struct{ table, id, name string }

// partitions lists the active partitions of the retention tables, ordered. On a cluster
// they are read from one replica of every shard (cluster()): shards hold different days.
func (r *Retention) partitions(ctx context.Context) ([]partition, error) {
	from := "system.parts"
	if r.cfg.Cluster != "" {
		from = "cluster('" + r.cfg.Cluster + "', system, parts)"
	}
	var tables []string
	for t := range retentionTables {
		tables = append(tables, t+r.suffix())
	}
	rows, err := r.ch.Query(ctx, "SELECT DISTINCT table, partition_id, partition FROM "+from+
		" WHERE database = ? AND active AND has(?, table) ORDER BY table, partition_id", r.cfg.Database, tables)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.table, &p.id, &p.name); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Run calls RunOnce now and then every interval until ctx is cancelled. A failed run is
// logged and tried again at the next tick.
func (r *Retention) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if n, err := r.RunOnce(ctx); err != nil {
			r.logger.Warn("retention run failed", "err", err, "dropped", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
