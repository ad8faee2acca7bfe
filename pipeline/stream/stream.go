// Package stream defines the JetStream stream that is telemetryd's source of truth:
// its configuration, the subjects and headers of events, and the publisher ingest uses.
package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/jsensure"
)

// Signal is the OTLP signal an event carries.
type Signal string

// The OTLP signals.
const (
	SignalTraces  Signal = "traces"
	SignalMetrics Signal = "metrics"
	SignalLogs    Signal = "logs"
)

// Header names set on every event.
const (
	HeaderTenant      = "Telemetry-Tenant"
	HeaderTokenID     = "Telemetry-Token-Id"
	HeaderSignal      = "Telemetry-Signal"
	HeaderTraceParent = "traceparent"
)

// Config is the stream's configuration.
type Config struct {
	Name            string        // stream name, e.g. "TELEMETRY"
	SubjectPrefix   string        // events are published to <prefix>.<partition>.<signal>
	Partitions      int           // subjects the stream is split into; each has one persist worker at a time
	Replicas        int           // 1 embedded, 3 in a cluster
	MaxAge          time.Duration // history of persisted events kept for replay, trimmed by the ingest role
	MaxBytes        int64         // upper bound of the stream's storage; a full stream refuses events
	DuplicateWindow time.Duration // window in which equal Nats-Msg-Id are stored once
	Compression     Compression   // how ingest stores payloads ("" is none)
}

// DefaultConfig is the single-machine default.
func DefaultConfig() Config {
	return Config{
		Name:            "TELEMETRY",
		SubjectPrefix:   "telemetry",
		Partitions:      4,
		Replicas:        1,
		MaxAge:          7 * 24 * time.Hour,
		MaxBytes:        10 << 30,
		DuplicateWindow: 10 * time.Minute,
		Compression:     CompressionS2,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("stream name must not be empty"))
	}
	if c.SubjectPrefix == "" {
		errs = append(errs, errors.New("stream subject prefix must not be empty"))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("stream partitions must be 1..1024, got %d", c.Partitions))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas must be 1..5, got %d", c.Replicas))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("stream max age must be positive, got %s", c.MaxAge))
	}
	if err := c.Compression.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("stream max bytes must be positive, got %d", c.MaxBytes))
	}
	if c.DuplicateWindow <= 0 || c.DuplicateWindow > c.MaxAge {
		errs = append(errs, fmt.Errorf("stream duplicate window must be positive and at most the max age, got %s", c.DuplicateWindow))
	}
	return errors.Join(errs...)
}

// Subject is the subject of a partition's events of a signal.
func (c Config) Subject(partition int, signal Signal) string {
	return c.SubjectPrefix + "." + strconv.Itoa(partition) + "." + string(signal)
}

// PartitionFilter matches every event of a partition.
func (c Config) PartitionFilter(partition int) string {
	return c.SubjectPrefix + "." + strconv.Itoa(partition) + ".>"
}

// PartitionOfSubject returns the partition of an event's subject.
func (c Config) PartitionOfSubject(subject string) (int, error) {
	rest, ok := strings.CutPrefix(subject, c.SubjectPrefix+".")
	if !ok {
		return 0, fmt.Errorf("subject %q is not under %s", subject, c.SubjectPrefix)
	}
	num, _, _ := strings.Cut(rest, ".")
	p, err := strconv.Atoi(num)
	if err != nil || p < 0 || p >= c.Partitions {
		return 0, fmt.Errorf("subject %q names no partition of %d", subject, c.Partitions)
	}
	return p, nil
}

// partitionOf spreads events over the partitions by their content hash, so that load
// is even whatever the tenants, and a retried event lands where the first one did.
func (c Config) partitionOf(msgID string) int {
	var h uint32
	for i := 0; i < 8 && i < len(msgID); i++ {
		h = h<<4 | uint32(hexDigit(msgID[i]))
	}
	return int(h % uint32(c.Partitions))
}

func hexDigit(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	}
	return 0
}

// AllSubjects is the filter that matches every event.
func (c Config) AllSubjects() string { return c.SubjectPrefix + ".>" }

// Ensure creates the stream or updates it to cfg. An existing stream made by an older
// telemetryd (DiscardOld, a stream MaxAge) is switched to this configuration in place;
// JetStream allows changing both.
//
// Why no event ingest acknowledged can be removed before a persist worker stored it:
// JetStream removes a message from a limits stream only by (1) MaxAge expiry, (2) the
// MaxMsgs/MaxBytes/MaxMsgsPerSubject limits with DiscardOld, (3) a message TTL, or
// (4) an explicit delete or purge. The stream has no MaxAge, no message or per-subject
// limits and no message TTLs, and its MaxBytes is enforced with DiscardNew, which
// refuses the publish instead of removing anything (ingest answers 503 then). That
// leaves (4): telemetryd's only purge (Backlog.trim) removes sequences below every
// persist consumer's acknowledgement floor, and a persist worker acknowledges an event
// only after ClickHouse stored it or it was dead-lettered. The history age
// (--stream-max-age) is enforced by that purge too, so it never ages out an event
// that is not yet persisted.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{
		Name:        cfg.Name,
		Description: "telemetryd events: accepted OTLP payloads, the source of truth",
		Subjects:    []string{cfg.AllSubjects()},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// No MaxAge: JetStream ages messages out whether or not they were persisted;
		// telemetryd trims the history by age itself, below the persisted floor.
		MaxAge:   0,
		MaxBytes: cfg.MaxBytes,
		// DiscardNew: a full stream refuses the publish rather than dropping its
		// oldest events, which may not be persisted yet. Admission answers 503 before
		// that, and the history of persisted events is trimmed to make room.
		Discard:    jetstream.DiscardNew,
		Duplicates: cfg.DuplicateWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
