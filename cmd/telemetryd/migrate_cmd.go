package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/telemetryd/telemetryd/schema"
)

func runMigrate(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("telemetryd migrate", stderr)
	dsn := fs.String("clickhouse-dsn", schema.DefaultDSN, "ClickHouse DSN (native protocol)")
	cluster := fs.String("clickhouse-cluster", "", clickhouseClusterUsage)
	retentionDays := fs.Int("retention-days", 30, "on the current layout, the TTL keeps this many full days besides today (0: no TTL); as serve's flag")
	relayout := fs.Bool("relayout", false, "move a legacy-layout database to the current layout (ClickHouse 23.8 or newer; stop telemetryd first)")
	if err := parseFlags(fs, args, osLookupEnv); err != nil {
		return err
	}
	if err := schema.ValidateCluster(*cluster); err != nil {
		return fmt.Errorf("--clickhouse-cluster: %w", err)
	}
	if *retentionDays < 0 {
		return fmt.Errorf("--retention-days must not be negative, got %d", *retentionDays)
	}
	if *relayout && *cluster != "" {
		return fmt.Errorf("--relayout: a --clickhouse-cluster database keeps the legacy layout")
	}
	logger := newLogger(stderr, "info")
	if *relayout {
		copied, err := schema.Relayout(ctx, *dsn, logger)
		if err != nil {
			return err
		}
		for table, rows := range copied {
			logger.Info("relayout copied", "table", table, "rows", rows)
		}
	}
	return migrateSchema(ctx, *dsn, *cluster, *retentionDays, logger)
}

// migrateSchema applies the migrations and, on the current layout, the TTL of
// retentionDays (the persist role sets it too, at start).
func migrateSchema(ctx context.Context, dsn, cluster string, retentionDays int, logger *slog.Logger) error {
	if err := schema.Migrate(ctx, dsn, logger, schema.OnCluster(cluster)); err != nil {
		return err
	}
	opts, err := schema.Options(dsn)
	if err != nil {
		return err
	}
	conn, err := schema.Open(ctx, dsn, schema.OnCluster(cluster))
	if err != nil {
		return err
	}
	defer conn.Close()
	layout, err := schema.DatabaseLayout(ctx, conn, opts.Auth.Database)
	if err != nil {
		return err
	}
	if layout == schema.LayoutCurrent {
		n, err := schema.SetTTL(ctx, conn, opts.Auth.Database, retentionDays)
		if err != nil {
			return err
		}
		logger.Info("retention TTL", "days", retentionDays, "tables_changed", n)
	}
	logger.Info("schema up to date", "layout", layout)
	return nil
}
