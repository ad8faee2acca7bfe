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
	partitionDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	identifier    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Retention drops whole day partitions older than a number of days: ClickHouse 18.16
// has no TTL, and dropping a partition is instant and frees its disk at once.
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
	Days    int // full days kept besides today; <= 0 keeps everything
}

// NewRetention keeps cfg.Days full days of data besides today in the signal tables.
func NewRetention(ch driver.Conn, cfg RetentionConfig, logger *slog.Logger) *Retention {
	return &Retention{ch: ch, cfg: cfg, logger: logger, now: time.Now}
}

// RunOnce drops every active partition dated before the cutoff and reports how many it
// dropped. Dates are days of the server's time zone (toDate); the cutoff is computed in
// UTC, so near midnight a partition may be kept a little longer, never dropped early by
// more than the zone's offset.
func (r *Retention) RunOnce(ctx context.Context) (int, error) {
	if r.cfg.Days <= 0 {
		return 0, nil
	}
	// The database and cluster names are configuration, not user input, but they are
	// spliced into SQL, so they must look like identifiers.
	if !identifier.MatchString(r.cfg.Database) {
		return 0, fmt.Errorf("retention: invalid database name %q", r.cfg.Database)
	}
	if err := schema.ValidateCluster(r.cfg.Cluster); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	cutoff := r.now().UTC().AddDate(0, 0, -r.cfg.Days).Format(time.DateOnly)
	parts, err := r.partitions(ctx)
	if err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}
	dropped := 0
	for _, p := range parts {
		// The partition text is spliced into the ALTER (DROP PARTITION takes no bound
		// parameter), so only a well-formed date of an allowed table gets there.
		if !r.prunes(p.table) || !validDate(p.partition) {
			r.logger.Warn("retention: skipping partition that is not a day", "table", p.table, "partition", p.partition)
			continue
		}
		if p.partition >= cutoff { // YYYY-MM-DD compares as text in date order
			continue
		}
		stmt := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION '%s'", r.cfg.Database, p.table, p.partition)
		if r.cfg.Cluster != "" {
			// Run by one replica of every shard; a shard without the partition has
			// nothing to drop.
			stmt = fmt.Sprintf("ALTER TABLE %s.%s ON CLUSTER '%s' DROP PARTITION '%s'", r.cfg.Database, p.table, r.cfg.Cluster, p.partition)
		}
		if err := r.ch.Exec(ctx, stmt); err != nil {
			return dropped, fmt.Errorf("retention: drop %s partition %s: %w", p.table, p.partition, err)
		}
		dropped++
		r.logger.Info("retention: dropped partition", "table", p.table, "partition", p.partition, "cluster", r.cfg.Cluster)
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

type partition struct{ table, partition string }

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
	rows, err := r.ch.Query(ctx, "SELECT DISTINCT table, partition FROM "+from+
		" WHERE database = ? AND active AND has(?, table) ORDER BY table, partition", r.cfg.Database, tables)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func validDate(s string) bool {
	if !partitionDate.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
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
