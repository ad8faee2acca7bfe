package persist

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
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
	ch       driver.Conn
	database string
	days     int
	logger   *slog.Logger
	now      func() time.Time
}

// NewRetention keeps days full days of data besides today in database's signal
// tables. days <= 0 keeps everything.
func NewRetention(ch driver.Conn, database string, days int, logger *slog.Logger) *Retention {
	return &Retention{ch: ch, database: database, days: days, logger: logger, now: time.Now}
}

// RunOnce drops every active partition dated before the cutoff and reports how many it
// dropped. Dates are days of the server's time zone (toDate); the cutoff is computed in
// UTC, so near midnight a partition may be kept a little longer, never dropped early by
// more than the zone's offset.
func (r *Retention) RunOnce(ctx context.Context) (int, error) {
	if r.days <= 0 {
		return 0, nil
	}
	// The database name is configuration, not user input, but it is spliced into SQL as
	// an identifier, so it must look like one.
	if !identifier.MatchString(r.database) {
		return 0, fmt.Errorf("retention: invalid database name %q", r.database)
	}
	cutoff := r.now().UTC().AddDate(0, 0, -r.days).Format(time.DateOnly)
	rows, err := r.ch.Query(ctx, `SELECT DISTINCT table, partition FROM system.parts
		WHERE database = ? AND active AND table IN ('spans', 'logs', 'metric_points', 'trace_index')
		ORDER BY table, partition`, r.database)
	if err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}
	type part struct{ table, partition string }
	var old []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			rows.Close()
			return 0, fmt.Errorf("retention: list partitions: %w", err)
		}
		old = append(old, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("retention: list partitions: %w", err)
	}

	dropped := 0
	for _, p := range old {
		// The partition text is spliced into the ALTER (DROP PARTITION takes no bound
		// parameter), so only a well-formed date of an allowed table gets there.
		if !retentionTables[p.table] || !validDate(p.partition) {
			r.logger.Warn("retention: skipping partition that is not a day", "table", p.table, "partition", p.partition)
			continue
		}
		if p.partition >= cutoff { // YYYY-MM-DD compares as text in date order
			continue
		}
		stmt := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION '%s'", r.database, p.table, p.partition)
		if err := r.ch.Exec(ctx, stmt); err != nil {
			return dropped, fmt.Errorf("retention: drop %s partition %s: %w", p.table, p.partition, err)
		}
		dropped++
		r.logger.Info("retention: dropped partition", "table", p.table, "partition", p.partition)
	}
	return dropped, nil
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
