package persist

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
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
// events, so a block can be one event larger). An INSERT streams its events as blocks
// of this size, each decoded into the block's columns just before it is encoded and
// sent, so the columns and the encoded bytes stay bounded by this, not by the batch;
// the server squashes the blocks of one INSERT into parts of min_insert_block_size_rows
// as before.
const insertBlockRows = 4096

// insert writes the rows of events into tbl with one INSERT.
func (t *Target) insert(ctx context.Context, tbl table, events []*event) error {
	_, err := t.insertSome(ctx, tbl, events, math.MaxInt)
	return err
}

// insertSome writes the rows of the leading events into tbl with one INSERT of at
// most maxRows rows (an event's rows always go in one INSERT, so a first event may
// have more), sent as blocks of about insertBlockRows rows, and returns how many
// events it took: written, or on error sent or about to be. A failed INSERT may have
// stored some of its blocks: the caller looks up what is stored before it retries
// (retry.go). Events that cannot be decoded are taken and left out (their bad says
// why).
func (t *Target) insertSome(ctx context.Context, tbl table, events []*event, maxRows int) (int, error) {
	if t.pool == nil {
		return t.insertBatch(ctx, tbl, events, maxRows)
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
	f := filler{b: b, events: events, maxRows: maxRows}
	if f.fill(); b.rows() == 0 {
		return f.next, nil // nothing to write: every event taken was empty or undecodable
	}
	c, err := t.pool.Acquire(ctx)
	if err != nil {
		return f.next, fmt.Errorf("connect to insert into %s: %w", tbl.name, err)
	}
	err = c.Do(ctx, ch.Query{
		Body:  "INSERT INTO " + tbl.name + " (" + tbl.columns + ") VALUES",
		Input: b.input(),
		OnInput: func(context.Context) error {
			// ch-go sends whatever the input still holds after io.EOF as a last
			// block: empty it first, or the last block would be stored twice.
			f.sent += b.rows()
			if f.fill(); b.rows() == 0 {
				return io.EOF
			}
			return nil
		},
	})
	if err != nil {
		// Never reuse the connection of a failed INSERT: when the server throws
		// while ch-go still sends the block, the rest of it is read as the next
		// query's packets (UNEXPECTED_PACKET_FROM_CLIENT).
		_ = c.Close()
		return f.next, fmt.Errorf("insert %d events into %s (failed after %d rows sent): %w", f.next, tbl.name, f.sent, err)
	}
	c.Release()
	return f.next, nil
}

// filler fills one INSERT's block, block after block, from the leading events.
type filler struct {
	b       *block
	events  []*event
	maxRows int
	next    int  // the first event not taken yet
	sent    int  // rows of the blocks sent before the current one
	full    bool // the INSERT has its maxRows
}

// fill makes the block the next rows to send, empty when the INSERT is complete.
func (f *filler) fill() {
	f.b.reset()
	if f.next == len(f.events) || f.full {
		return
	}
	if f.events[f.next].rows.set != nil {
		f.fillDecoded()
		return
	}
	own := f.b.ownSet()
	own.reset()
	for f.next < len(f.events) && own.rows() < insertBlockRows && f.events[f.next].rows.set == nil {
		lo := own.rows()
		if _, ok := f.events[f.next].decodeInto(own); ok && f.sent+lo > 0 && f.sent+own.rows() > f.maxRows {
			own.truncate(lo) // the next INSERT's: it decodes the event again
			f.full = true
			break
		}
		f.next++
	}
	f.b.show(own.all())
	f.b.peak = max(f.b.peak, own.rows())
}

// fillDecoded makes the block the rows of the next events decoded ahead.
func (f *filler) fillDecoded() {
	first, rows := f.next, 0
	for f.next < len(f.events) && rows < insertBlockRows && f.events[f.next].rows.set != nil {
		n := f.events[f.next].rows.len()
		if f.sent+rows > 0 && f.sent+rows+n > f.maxRows {
			f.full = true
			break
		}
		rows += n
		f.next++
	}
	if f.next > first {
		f.b.fill(f.events[first:f.next])
	}
}

// insertBatch writes the rows of the leading events into tbl with one clickhouse-go
// batch of at most maxRows rows, as insertSome does.
func (t *Target) insertBatch(ctx context.Context, tbl table, events []*event, maxRows int) (int, error) {
	var batch driver.Batch
	scratch := tbl.newSet()
	n, rows := 0, 0
	for ; n < len(events); n++ {
		ev := events[n]
		r := ev.rows
		if r.set == nil {
			scratch.reset()
			var ok bool
			if r, ok = ev.decodeInto(scratch); !ok {
				continue
			}
		}
		if rows > 0 && rows+r.len() > maxRows {
			break
		}
		if r.len() == 0 {
			continue
		}
		if batch == nil {
			var err error
			if batch, err = t.conn.PrepareBatch(ctx, "INSERT INTO "+tbl.name+" ("+tbl.columns+")"); err != nil {
				return n + 1, fmt.Errorf("prepare %s insert: %w", tbl.name, err)
			}
			defer batch.Close()
		}
		if err := tbl.appendBatch(batch, r); err != nil {
			return n + 1, fmt.Errorf("%s: %w: %w", tbl.name, errUnencodableRows, err)
		}
		rows += r.len()
	}
	if batch == nil {
		return n, nil
	}
	if err := batch.Send(); err != nil {
		return n, fmt.Errorf("insert %d rows into %s: %w", rows, tbl.name, err)
	}
	return n, nil
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
