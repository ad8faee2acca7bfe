package persist

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/chpool"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/schema"
)

// InsertPath names how a Target writes its INSERTs.
type InsertPath string

const (
	// PathColumnar sends ch-go blocks over the client's current protocol revision.
	PathColumnar InsertPath = "ch-go"
	// PathColumnarLegacy sends ch-go blocks over protocol revision legacyRevision,
	// for servers older than the revision from which ch-go sends its client info.
	PathColumnarLegacy InsertPath = "ch-go (protocol 54031)"
	// PathBatch appends rows to clickhouse-go batches.
	PathBatch InsertPath = "clickhouse-go"
)

// legacyRevision is the protocol revision ch-go speaks to servers before 54420
// (ClickHouse 18.16 is 54412): ch-go writes a query's client info only from 54420 on,
// while servers read it from 54032 on, so at any revision in between the server reads
// the settings where the client info should be and fails with UNKNOWN_SETTING. Below
// 54032 neither side sends it. That revision carries no settings (ch-go serializes
// settings only from 54429), so a mode that must send one writes through clickhouse-go.
const legacyRevision = 54031

// Target is the ClickHouse database persist writes to: clickhouse-go for look-ups and
// the INSERTs ch-go cannot make, a pool of ch-go connections for columnar INSERTs.
type Target struct {
	conn driver.Conn
	pool *chpool.Pool // nil on PathBatch
	path InsertPath
	// free holds blocks of finished INSERTs for the next ones, one set per batch
	// in flight: a block gathering rows keeps its columns' capacity across batches.
	free chan map[string]*block
}

// TargetOptions say how to reach the database with ch-go: the connection conn
// was opened with, and whether the INSERTs must go through Distributed tables
// synchronously (a cluster).
type TargetOptions struct {
	Addr, Database, User, Password string
	TLS                            *tls.Config // nil: plain TCP
	DialTimeout                    time.Duration
	Cluster                        bool
	// MaxConns bounds the ch-go connections, one per INSERT in flight.
	MaxConns int
}

// DialTarget opens the Target of the database of dsn (a --clickhouse-dsn), which
// conn is connected to, with at most maxConns ch-go connections.
func DialTarget(ctx context.Context, conn driver.Conn, dsn string, cluster bool, maxConns int) (*Target, error) {
	o, err := schema.Options(dsn)
	if err != nil {
		return nil, err
	}
	t := TargetOptions{Database: o.Auth.Database, User: o.Auth.Username, Password: o.Auth.Password,
		TLS: o.TLS, DialTimeout: o.DialTimeout, Cluster: cluster, MaxConns: maxConns}
	if len(o.Addr) > 0 {
		t.Addr = o.Addr[0]
	}
	return OpenTarget(ctx, conn, t)
}

// OpenTarget chooses the INSERT path from conn's server: ch-go on current servers; on
// servers before revision 54420, ch-go at legacyRevision on one server and clickhouse-go
// batches on a cluster (that revision cannot send insert_distributed_sync).
func OpenTarget(ctx context.Context, conn driver.Conn, o TargetOptions) (*Target, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("clickhouse server version: %w", err)
	}
	t := &Target{conn: conn, path: PathColumnar, free: make(chan map[string]*block, max(o.MaxConns, 1))}
	copts := ch.Options{Address: o.Addr, Database: o.Database, User: o.User, Password: o.Password,
		TLS: o.TLS, DialTimeout: o.DialTimeout, ClientName: "telemetryd"}
	if o.User == "" {
		copts.User = "default"
	}
	if int(sv.Revision) < int(proto.FeatureClientWriteInfo) {
		if o.Cluster {
			t.path = PathBatch
			return t, nil
		}
		t.path, copts.ProtocolVersion = PathColumnarLegacy, legacyRevision
	} else {
		// Current servers queue INSERTs server-side by default (async_insert = 1),
		// holding each up to 200 ms and flushing those that met as one: a batch is
		// already thousands of rows and waits for its INSERT, so the queue would only
		// add its wait to every batch and tie each INSERT's failure to the others'.
		// Not Important: a server without the setting ignores it.
		copts.Settings = []ch.Setting{{Key: "async_insert", Value: "0"}}
		if o.Cluster {
			copts.Settings = append(copts.Settings, ch.SettingInt("insert_distributed_sync", 1))
		}
	}
	pool, err := chpool.New(ctx, chpool.Options{ClientOptions: copts, MaxConns: int32(max(o.MaxConns, 1))})
	if err != nil {
		return nil, fmt.Errorf("open ch-go pool to %s: %w", o.Addr, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping clickhouse %s with ch-go: %w", o.Addr, err)
	}
	t.pool = pool
	return t, nil
}

// BatchTarget writes through clickhouse-go batches only.
func BatchTarget(conn driver.Conn) *Target { return &Target{conn: conn, path: PathBatch} }

// Path is how the target writes its INSERTs.
func (t *Target) Path() InsertPath { return t.path }

// Conn is the clickhouse-go connection of look-ups and batch INSERTs.
func (t *Target) Conn() driver.Conn { return t.conn }

// Close closes the ch-go connections; conn belongs to the caller.
func (t *Target) Close() {
	if t.pool != nil {
		t.pool.Close()
	}
}

// insertBlockRows is about how many rows one block of a columnar INSERT carries (whole
// events, so a block can be one event larger). An INSERT streams its batch as blocks of
// this size, encoded from the batch's columns in place, so the encoded bytes stay
// bounded by this, not by the batch; the server squashes the blocks of one INSERT into
// parts of min_insert_block_size_rows as before.
const insertBlockRows = 4096

// insert writes the rows of events into tbl with one INSERT, sent as blocks of about
// insertBlockRows rows. A failed INSERT may have stored some of its blocks: the caller
// looks up what is stored before it retries (retry.go).
func (t *Target) insert(ctx context.Context, tbl table, events []event) error {
	if t.pool == nil {
		return t.insertBatch(ctx, tbl, events)
	}
	var set map[string]*block
	select {
	case set = <-t.free:
	default:
		set = map[string]*block{}
	}
	defer func() {
		select {
		case t.free <- set:
		default:
		}
	}()
	b := set[tbl.name]
	if b == nil {
		b = newBlock(tbl)
		set[tbl.name] = b
	}
	next, sent := 0, 0
	fill := func() {
		first, rows := next, 0
		for next < len(events) && rows < insertBlockRows {
			rows += events[next].rows.len()
			next++
		}
		b.fill(events[first:next])
	}
	fill()
	c, err := t.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to insert into %s: %w", tbl.name, err)
	}
	err = c.Do(ctx, ch.Query{
		Body:  "INSERT INTO " + tbl.name + " (" + tbl.columns + ") VALUES",
		Input: b.input(),
		OnInput: func(context.Context) error {
			// ch-go sends whatever the input still holds after io.EOF as a last
			// block: empty it first, or the last block would be stored twice.
			sent += b.rows()
			b.reset()
			if next == len(events) {
				return io.EOF
			}
			fill()
			return nil
		},
	})
	if err != nil {
		// Never reuse the connection of a failed INSERT: when the server throws
		// while ch-go still sends the block, the rest of it is read as the next
		// query's packets (UNEXPECTED_PACKET_FROM_CLIENT).
		_ = c.Close()
		return fmt.Errorf("insert %d events into %s (failed after %d rows sent): %w", len(events), tbl.name, sent, err)
	}
	c.Release()
	return nil
}

// insertBatch writes the rows of events into tbl with one clickhouse-go batch.
func (t *Target) insertBatch(ctx context.Context, tbl table, events []event) error {
	batch, err := t.conn.PrepareBatch(ctx, "INSERT INTO "+tbl.name+" ("+tbl.columns+")")
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", tbl.name, err)
	}
	defer batch.Close()
	rows := 0
	for _, ev := range events {
		if err := tbl.appendBatch(batch, ev.rows); err != nil {
			return fmt.Errorf("%s: %w: %w", tbl.name, errUnencodableRows, err)
		}
		rows += ev.rows.len()
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", rows, tbl.name, err)
	}
	return nil
}

// errUnencodableRows marks rows the ClickHouse client refused to encode: like the
// server's rejections of the data, no retry can fix it.
var errUnencodableRows = errors.New("rows the ClickHouse client cannot encode")

// isDataError tells rejections of the data itself, which no retry can fix, from
// unavailability.
func isDataError(err error) bool {
	if errors.Is(err, errUnencodableRows) {
		return true
	}
	var code int
	if ex, ok := ch.AsException(err); ok {
		code = int(ex.Code)
	} else if ex := (*clickhouse.Exception)(nil); errors.As(err, &ex) {
		code = int(ex.Code)
	} else {
		return false
	}
	switch code {
	case chCannotParseText, chCannotParseQuotedString, chCannotParseInputAssertionFailed,
		chAttemptToReadAfterEOF, chCannotParseDate, chCannotParseDateTime, chTypeMismatch,
		chArgumentOutOfBound, chCannotConvertType, chCannotParseNumber, chIncorrectData,
		chTooLargeStringSize, chSizesOfArraysDoesntMatch, chValueIsOutOfRangeOfDataType,
		chFunctionThrowIfValueIsNonZero:
		return true
	}
	return false
}
